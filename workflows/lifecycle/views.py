"""Browser views of the lifecycle: thin. Fetch through selectors, call one service, redirect.

Errors are shown on a page of their own with the form filled in as it was sent (nothing typed
is lost), with the API's status code: 400, 403, 409 or 429.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_fsm import can_proceed

from governance.access.selectors import is_admin
from governance.errors import ActionError, show_refusal
from governance.registry import selectors as registry_selectors

from . import policy, promotion, selectors, services
from .forms import AnnotationForm, SignOffForm, TransitionForm
from .rules import RULES, USER_TRANSITIONS


@login_required
def review_queue(request):
    versions = selectors.review_queue(user=request.user)
    page = Paginator(versions, 50).get_page(request.GET.get("page"))
    table = policy.policy_table()
    rows = [{"version": version, "required": policy.required_approvals(version.model.risk_tier, table)} for version in page]
    return render(request, "lifecycle/review_queue.html", {"page": page, "rows": rows})


@login_required
def version_transition(request, slug, number):
    """GET: a form for one transition (?name=...). POST: run it, then back to the version.

    A change of champion (promotion, rollback) first shows a confirmation that names the champion
    it replaces and, for a promotion, the shadow figures against the minimums; it runs once
    confirmed, and only if the champion named there is still the champion.
    """
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    status = 200
    if request.method == "POST":
        form = TransitionForm(request.POST)
        if form.is_valid():
            name = form.cleaned_data["name"]
            if _needs_confirmation(version, name) and not _champion_change_confirmed(form, version, name):
                pass  # the confirmation page, with what was typed
            else:
                try:
                    services.version_transition(
                        version=version,
                        name=name,
                        actor=request.user,
                        annotation=form.cleaned_data["annotation"],
                        override=form.cleaned_data["override"],
                    )
                except ActionError as exc:
                    status = show_refusal(form, exc)
                else:
                    messages.success(request, _done_message(version, name))
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
    preview = promotion.champion_change_preview(version, name=name) if _needs_confirmation(version, name) else None
    return render(
        request,
        "lifecycle/transition.html",
        {
            "version": version,
            "form": form,
            "name": name,
            "rule": rule,
            "preview": preview,
            # Admins alone are offered the override, and only when the guardrail would refuse.
            "offer_override": preview is not None and preview.held_back and is_admin(request.user),
        },
        status=status,
    )


def _needs_confirmation(version, name: str) -> bool:
    """A change of champion the version's state allows (else the service's refusal says why)."""
    return name in services.CHAMPION_CHANGES and can_proceed(getattr(version, name))


def _champion_change_confirmed(form, version, name: str) -> bool:
    """Whether the person confirmed this change of champion on its confirmation page, and the
    champion it named is still the champion (else the page shows the change as it now is)."""
    if not form.cleaned_data["confirmed"]:
        return False
    current = promotion.champion_change_preview(version, name=name).champion_number
    if form.cleaned_data["replaces"] != current:
        form.add_error(None, "The champion changed since this page was shown: check the change below and confirm again.")
        return False
    return True


def _done_message(version, name: str) -> str:
    if name in services.CHAMPION_CHANGES:
        return promotion.champion_change_outcome(version, name=name)
    return f"{RULES[name].description}: done."


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


# Which form field shows which refusal of the sign-off service.
SIGNOFF_ERROR_FIELDS = {
    "annotation_required": "annotation",
    "wrong_password": "password",
    "otp_required": "otp",
    "wrong_otp": "otp",
    "mfa_required": "otp",
}


@login_required
def version_sign(request, slug, number):
    """The signing form: decision, meaning, annotation, password and the one-time code (always
    with ``GOVERNANCE_SIGNING_REQUIRES_MFA``, else when the signer has MFA)."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    refusal = services.signoff_refusal(version=version, user=request.user)
    if refusal:
        return render(request, "lifecycle/sign.html", {"version": version, "refusal": refusal}, status=403)
    has_mfa = services.signer_has_mfa(request.user)
    form = SignOffForm(
        request.POST if request.method == "POST" else None,
        needs_otp=has_mfa or settings.GOVERNANCE_SIGNING_REQUIRES_MFA,
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
            "required_approvals": policy.required_approvals(version.model.risk_tier),
            "signoffs": selectors.signoffs_of(version),
            # Signing needs a one-time code here, and this signer has no authenticator yet.
            "mfa_setup_needed": settings.GOVERNANCE_SIGNING_REQUIRES_MFA and not has_mfa,
        },
        status=status,
    )
