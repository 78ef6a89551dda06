"""Browser views of the lifecycle: thin. Fetch through selectors, call one service, redirect.

Errors are shown on a page of their own with the form filled in as it was sent (nothing typed
is lost), with the API's status code: 400, 403, 409 or 429.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST
from django_fsm import can_proceed

from governance.access import selectors as access_selectors
from governance.errors import ActionError, show_refusal
from governance.registry import selectors as registry_selectors

from . import findings, grid, policy, promotion, selectors, services
from .forms import (
    APPROVE_WITH_CONDITIONS,
    AnnotationForm,
    ConditionRows,
    FindingCloseForm,
    FindingRows,
    SignOffForm,
    TransitionForm,
    filled_rows,
)
from .models import Decision
from .rules import RULES, USER_TRANSITIONS


@login_required
def review_queue(request):
    versions = selectors.review_queue(user=request.user)
    page = Paginator(versions, 50).get_page(request.GET.get("page"))
    table = policy.policy_table()
    snapshots = policy.submission_snapshots(version.pk for version in page)
    overdue = list(findings.overdue_for_reviewer(user=request.user))
    flagged = {condition.version_id for condition in overdue}
    rows = []
    for version in page:
        decided_under = policy.version_policy(version, snapshots, table)
        rows.append({
            "version": version,
            "tier": decided_under["risk_tier"],
            "required": decided_under["required_approvals"],
            "overdue": version.pk in flagged,
        })
    # Test suite changes this validator may decide, in words, beside the versions to sign.
    from workflows.testsuites.selectors import proposals_to_decide
    from workflows.testsuites.suite_diff import suite_diff

    proposals = [
        {
            "proposal": proposal,
            "changes": [
                row.summary for row in suite_diff(proposal.base_checks, proposal.proposed_checks) if row.status != "unchanged"
            ],
        }
        for proposal in proposals_to_decide(request.user)
    ]
    return render(
        request, "lifecycle/review_queue.html", {"page": page, "rows": rows, "overdue": overdue, "proposals": proposals}
    )


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
            "offer_override": preview is not None and preview.held_back and access_selectors.is_admin(request.user),
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
    "mfa_required": "otp",
}


@login_required
def version_sign(request, slug, number):
    """The signing form: decision, conditions or findings, meaning, annotation, the confirmation
    that the evidence was reviewed, password and the one-time code (always with
    ``GOVERNANCE_SIGNING_REQUIRES_MFA``, else when the signer has MFA)."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    refusal = services.signoff_refusal(version=version, user=request.user)
    if refusal:
        return render(request, "lifecycle/sign.html", {"version": version, "refusal": refusal}, status=403)
    data = request.POST if request.method == "POST" else None
    has_mfa = services.signer_has_mfa(request.user)
    form = SignOffForm(
        data,
        needs_otp=has_mfa or settings.GOVERNANCE_SIGNING_REQUIRES_MFA,
        initial={"artifact_sha256": version.artifact_sha256},  # a bound form shows what was posted
    )
    rows = {
        "conditions": _rows(ConditionRows, data, prefix="conditions"),
        "findings": _rows(FindingRows, data, prefix="findings"),
    }
    row_errors: dict[str, list[str]] = {"conditions": [], "findings": []}
    status = 200
    if request.method == "POST":
        status = 400
        valid = form.is_valid() & all([formset.is_valid() for formset in rows.values() if formset.is_bound])
        if valid:
            conditions = filled_rows(rows["conditions"]) if rows["conditions"].is_bound else []
            findings_ = filled_rows(rows["findings"]) if rows["findings"].is_bound else []
            choice = form.cleaned_data["decision"]
            if choice == APPROVE_WITH_CONDITIONS and not conditions:
                row_errors["conditions"].append("An approval with conditions lists at least one condition.")
            elif choice == Decision.APPROVE and conditions:
                row_errors["conditions"].append("To attach these conditions, choose “Approve with conditions”.")
            else:
                try:
                    signoff = services.signoff_record(
                        version=version,
                        signer=request.user,
                        decision=form.service_decision,
                        meaning=form.cleaned_data["meaning"],
                        annotation=form.cleaned_data["annotation"],
                        password=form.cleaned_data["password"],
                        otp=form.cleaned_data.get("otp", ""),
                        request=request,
                        artifact_sha256=form.cleaned_data["artifact_sha256"],
                        conditions=conditions,
                        findings=findings_,
                        evidence_reviewed=form.cleaned_data["evidence_reviewed"],
                    )
                except ActionError as exc:
                    if exc.field in row_errors:
                        row_errors[exc.field].append(exc.message)
                        status = exc.status
                    else:
                        status = show_refusal(form, exc, field=SIGNOFF_ERROR_FIELDS.get(exc.code))
                else:
                    messages.success(request, _signed_message(signoff))
                    return redirect(version.get_absolute_url())
    return render(
        request,
        "lifecycle/sign.html",
        {
            "version": version,
            "form": form,
            "rows": rows,
            "row_errors": row_errors,
            "in_review": version.state == "in_review",
            **_decided_under(version),
            "signoffs": selectors.signoffs_of(version),
            "answered_findings": findings.findings_of_version(version.resubmission_of) if version.resubmission_of else [],
            # Signing needs a one-time code here, and this signer has no authenticator yet.
            "mfa_setup_needed": settings.GOVERNANCE_SIGNING_REQUIRES_MFA and not has_mfa,
        },
        status=status,
    )


def permission_grid(request):
    """Who may do what, in the admin (admins only): roles against actions, read from the rules."""
    if not access_selectors.is_admin(request.user):
        raise PermissionDenied("Only admins see the permission grid.")
    context = {**admin.site.each_context(request), "title": "Permission grid", **grid.grid()}
    return render(request, "admin/permission_grid.html", context)


def _rows(formset_class, data, *, prefix: str):
    """The signing form's rows of conditions or findings: bound to what was posted, or blank
    rows when the post has none of them (a form posted without its rows raises none)."""
    posted = data is not None and f"{prefix}-TOTAL_FORMS" in data
    return formset_class(data if posted else None, prefix=prefix)


def _signed_message(signoff) -> str:
    raised = list(signoff.findings.all())
    if not raised:
        return f"You signed: {signoff.meaning}"
    noun = raised[0].get_kind_display().lower()
    return f"You signed: {signoff.meaning} With {len(raised)} {noun}{pluralize(len(raised))}."


@login_required
def finding_close(request, slug, number, pk):
    """GET: the form to close one finding or condition. POST: close it, then back to the version."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    finding = findings.finding_get(version=version, pk=pk)
    form = FindingCloseForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                findings.finding_close(finding=finding, actor=request.user, annotation=form.cleaned_data["annotation"])
            except ActionError as exc:
                status = show_refusal(form, exc)
            else:
                messages.success(request, f"{finding.get_kind_display()} closed: {finding.description}")
                return redirect(version.get_absolute_url() + "#findings")
    refusal = findings.finding_close_refusal(finding=finding, user=request.user)
    return render(
        request,
        "lifecycle/finding_close.html",
        {"version": version, "finding": finding, "form": form, "refusal": refusal},
        status=403 if refusal and request.method == "GET" else status,
    )
