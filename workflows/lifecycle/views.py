"""Browser views of the lifecycle: thin. Fetch through selectors, call one service, redirect.

Errors are shown on a page of their own with the form filled in as it was sent (nothing typed
is lost), with the API's status code: 400, 403, 409 or 429.
"""

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from governance.access import selectors as access_selectors
from governance.errors import ActionError, show_refusal
from governance.registry import selectors as registry_selectors

from . import grid, policy, selectors, services
from .forms import AnnotationForm, SignOffForm, TransitionForm
from .rules import RULES, USER_TRANSITIONS


@login_required
def review_queue(request):
    versions = selectors.review_queue(user=request.user)
    page = Paginator(versions, 50).get_page(request.GET.get("page"))
    table = policy.policy_table()
    snapshots = policy.submission_snapshots(version.pk for version in page)
    rows = []
    for version in page:
        decided_under = policy.version_policy(version, snapshots, table)
        rows.append({"version": version, "tier": decided_under["risk_tier"], "required": decided_under["required_approvals"]})
    return render(request, "lifecycle/review_queue.html", {"page": page, "rows": rows})


@login_required
def version_transition(request, slug, number):
    """GET: a form for one transition (?name=...). POST: run it, then back to the version."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    status = 200
    if request.method == "POST":
        form = TransitionForm(request.POST)
        if form.is_valid():
            name = form.cleaned_data["name"]
            try:
                services.version_transition(
                    version=version, name=name, actor=request.user, annotation=form.cleaned_data["annotation"]
                )
            except ActionError as exc:
                status = show_refusal(form, exc)
            else:
                messages.success(request, f"{RULES[name].description}: done.")
                return redirect(version.get_absolute_url())
        else:
            status = 400
    else:
        name = request.GET.get("name", "")
        if name not in USER_TRANSITIONS:
            raise Http404("No such transition.")
        form = TransitionForm(initial={"name": name})
    name = form["name"].value() or ""
    rule = RULES.get(name)
    return render(
        request,
        "lifecycle/transition.html",
        {"version": version, "form": form, "name": name, "rule": rule},
        status=status,
    )


@login_required
@require_POST
def version_annotate(request, slug, number):
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    form = AnnotationForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            services.annotation_add(version=version, author=request.user, text=form.cleaned_data["text"])
        except ActionError as exc:
            status = show_refusal(form, exc)
        else:
            messages.success(request, "Your note was added.")
            return redirect(version.get_absolute_url())
    return render(request, "lifecycle/annotate.html", {"version": version, "form": form}, status=status)


def _decided_under(version) -> dict:
    """The tier the version was submitted under and the approvals that tier needs now."""
    decided_under = policy.version_policy(version)
    return {"policy_tier": decided_under["risk_tier"], "required_approvals": decided_under["required_approvals"]}


# Which form field shows which refusal of the sign-off service.
SIGNOFF_ERROR_FIELDS = {
    "annotation_required": "annotation",
    "wrong_password": "password",
    "otp_required": "otp",
    "wrong_otp": "otp",
}


@login_required
def version_sign(request, slug, number):
    """The signing form: decision, meaning, annotation, password and (with MFA) the code."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    refusal = services.signoff_refusal(version=version, user=request.user)
    if refusal:
        return render(request, "lifecycle/sign.html", {"version": version, "refusal": refusal}, status=403)
    form = SignOffForm(
        request.POST if request.method == "POST" else None,
        needs_otp=services.signer_has_mfa(request.user),
        initial={"artifact_sha256": version.artifact_sha256},  # a bound form shows what was posted
    )
    status = 400 if form.errors else 200
    if request.method == "POST" and form.is_valid():
        try:
            signoff = services.signoff_record(
                version=version,
                signer=request.user,
                decision=form.cleaned_data["decision"],
                meaning=form.cleaned_data["meaning"],
                annotation=form.cleaned_data["annotation"],
                password=form.cleaned_data["password"],
                otp=form.cleaned_data.get("otp", ""),
                request=request,
                artifact_sha256=form.cleaned_data["artifact_sha256"],
            )
        except ActionError as exc:
            status = show_refusal(form, exc, field=SIGNOFF_ERROR_FIELDS.get(exc.code))
        else:
            messages.success(request, f"You signed: {signoff.meaning}.")
            return redirect(version.get_absolute_url())
    return render(
        request,
        "lifecycle/sign.html",
        {
            "version": version,
            "form": form,
            "in_review": version.state == "in_review",
            **_decided_under(version),
            "signoffs": selectors.signoffs_of(version),
        },
        status=status,
    )


def permission_grid(request):
    """Who may do what, in the admin (admins only): roles against actions, read from the rules."""
    if not access_selectors.is_admin(request.user):
        raise PermissionDenied("Only admins see the permission grid.")
    context = {**admin.site.each_context(request), "title": "Permission grid", **grid.grid()}
    return render(request, "admin/permission_grid.html", context)
