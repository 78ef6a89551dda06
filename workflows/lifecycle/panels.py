"""What the lifecycle adds to the registry's version page and version API."""

from __future__ import annotations

from django.urls import reverse

from . import findings, policy, promotion, selectors, services
from .forms import AnnotationForm, FindingCloseForm
from .history import version_history
from .rules import RULES
from .serializers import SignOffSerializer


def _request_cache(request, name: str, factory):
    """One value per request (e.g. the policy table), so a list of versions asks once."""
    if request is None:
        return factory()
    cache = request.__dict__.setdefault("_lifecycle_cache", {})
    if name not in cache:
        cache[name] = factory()
    return cache[name]


def api_related(versions):
    """The version API's sign-offs, loaded with the versions in one query whatever their number
    (``selectors.signoffs_of`` uses them)."""
    return versions.prefetch_related("signoffs")


def api_available_transitions(version, request) -> list[str]:
    user = getattr(request, "user", None)
    perms = _request_cache(request, "transition_perms", dict)
    return services.transitions_available(version=version, user=user, cache=perms)


def api_signoffs(version, request) -> list[dict]:
    return SignOffSerializer(selectors.signoffs_of(version), many=True).data


def api_required_signoffs(version, request) -> int:
    """The approvals the version needs: those of the tier it was submitted under, with the
    number in force for that tier. The submit records of the version's model are read once
    per request."""
    table = _request_cache(request, "policy_table", policy.policy_table)
    snapshots = _request_cache(request, f"submissions:{version.model_id}", lambda: _model_submissions(version.model_id))
    return policy.version_policy(version, snapshots, table)["required_approvals"]


def _model_submissions(model_id) -> dict:
    return policy.model_submission_snapshots(model_id)


def version_panel_context(request, version) -> dict:
    """State, the transitions this user may take now, sign-off status and the timeline."""
    user = request.user
    signoffs = selectors.signoffs_of(version)
    decided_under = policy.version_policy(version)
    approvals = len(services.approvals_that_count(version))
    already_signed = any(signoff.signer_id == user.pk for signoff in signoffs)
    refusal = services.signoff_refusal(version=version, user=user)
    kwargs = {"slug": version.model.slug, "number": version.number}
    return {
        "version": version,
        "transitions": [
            {
                "name": name,
                "label": RULES[name].description,
                "annotation_required": RULES[name].annotation_required,
                # A change of champion is confirmed on its own page first.
                "confirmed_next": name in services.CHAMPION_CHANGES,
            }
            for name in services.transitions_available(version=version, user=user)
        ],
        "shadow": promotion.shadow_figures(version),
        "transition_url": reverse("lifecycle:transition", kwargs=kwargs),
        "annotation_url": reverse("lifecycle:annotate", kwargs=kwargs),
        "sign_url": reverse("lifecycle:sign", kwargs=kwargs),
        "annotation_form": AnnotationForm(),
        "in_review": version.state == "in_review",
        "can_sign": version.state == "in_review" and refusal is None and not already_signed,
        "already_signed": already_signed,
        "signoffs": signoffs,
        "approvals": approvals,
        "required_approvals": decided_under["required_approvals"],
        "policy_tier": decided_under["risk_tier"],
        # The version's one history, with the steps of its findings (pages only: the history
        # API keeps to its own kinds of entry).
        "timeline": sorted(version_history(version) + findings.history_entries(version), key=lambda entry: entry.at),
    }


def findings_panel_context(request, version) -> dict:
    """The version's conditions and findings with their history, the close form where this user
    may close them, and the findings of the version it answers."""
    user = request.user
    rows = list(findings.findings_of_version(version))
    closer_refusal = findings.closer_refusal(version=version, user=user)
    kwargs = {"slug": version.model.slug, "number": version.number}
    answered = version.resubmission_of
    return {
        "version": version,
        "rows": [
            {
                "finding": finding,
                "overdue": findings.is_overdue(finding),
                "can_close": finding.status == "open" and closer_refusal is None and finding.owner_id != user.pk,
                "close_url": reverse("lifecycle:finding_close", kwargs={**kwargs, "pk": finding.pk}),
            }
            for finding in rows
        ],
        "open_conditions": sum(1 for f in rows if f.kind == "condition" and f.status == "open"),
        "close_form": FindingCloseForm(),
        "answered": answered,
        "answered_findings": list(findings.findings_of_version(answered)) if answered else [],
    }


def model_findings_context(request, model) -> dict:
    """Every version's conditions and findings, open ones first, with the overdue ones flagged."""
    rows = list(findings.findings_of_model(model))
    return {
        "model": model,
        "rows": [{"finding": finding, "overdue": findings.is_overdue(finding)} for finding in rows],
        "open_count": sum(1 for f in rows if f.status == "open"),
        "overdue_count": sum(1 for f in rows if findings.is_overdue(f)),
    }
