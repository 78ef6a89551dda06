"""Pages for sharing a model and for one's own API tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from governance.errors import ActionError, show_refusal
from governance.registry import selectors as registry_selectors

from . import permissions, selectors, services
from .forms import GrantForm, TokenForm


def _managed_model(request, slug):
    """The model and the roles the user may give on it: 404 when they cannot see it, 403 when
    they may give none (owners share access; validators choose reviewers; admins give any)."""
    model = registry_selectors.model_get(user=request.user, slug=slug)
    roles = permissions.grant_roles_given_by(request.user, model)
    if not roles:
        raise PermissionDenied("Only the model's owners, validators independent of it and admins manage its grants.")
    return model, roles


@login_required
def model_sharing(request, slug):
    model, roles = _managed_model(request, slug)
    form = GrantForm(request.POST or None, roles=roles)
    status = 400 if form.errors else 200
    if request.method == "POST" and form.is_valid():
        try:
            grant, created = services.grant_give(
                actor=request.user,
                model=model,
                role=form.cleaned_data["role"],
                user=form.cleaned_data.get("user"),
                group=form.cleaned_data.get("group"),
            )
        except ActionError as exc:
            status = show_refusal(form, exc)
        else:
            if created:
                messages.success(request, f"{grant.grantee_name} is now {grant.role} of {model.name}.")
            else:
                messages.info(request, f"{grant.grantee_name} already was {grant.role} of {model.name}.")
            return redirect("access:model_sharing", slug=model.slug)
    grants = [
        {"grant": grant, "removable": grant.role in roles} for grant in selectors.grants_of(model=model)
    ]
    context = {"model": model, "grants": grants, "form": form, "roles": roles}
    return render(request, "access/model_sharing.html", context, status=status)


@login_required
@require_POST
def grant_remove(request, slug, pk):
    model, _ = _managed_model(request, slug)
    grant = selectors.grant_get(model=model, pk=pk)
    try:
        services.grant_revoke(actor=request.user, grant=grant)
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{grant.grantee_name} is no longer {grant.role} of {model.name}.")
    return redirect("access:model_sharing", slug=model.slug)


@never_cache  # Cache-Control: no-store: the page may hold a new token's secret
@login_required
def token_list(request):
    form = TokenForm(request.POST or None)
    secret = None
    status = 400 if form.errors else 200
    if request.method == "POST" and form.is_valid():
        try:
            _, secret = services.token_create(
                actor=request.user,
                user=request.user, label=form.cleaned_data["label"], expires_at=form.expires_at
            )
        except ActionError as exc:
            status = show_refusal(form, exc)
        else:
            # The secret is shown in this response only: it is stored nowhere, not even in a message.
            form = TokenForm()
    context = {"tokens": selectors.tokens_of(user=request.user), "form": form, "secret": secret}
    return render(request, "access/token_list.html", context, status=status)


@login_required
@require_POST
def token_revoke(request, pk):
    token = selectors.token_get(user=request.user, pk=pk)
    services.token_revoke(actor=request.user, token=token)
    messages.success(request, f"The token '{token.label or token.key_prefix}' is revoked.")
    return redirect("access:token_list")
