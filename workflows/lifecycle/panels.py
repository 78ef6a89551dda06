"""What the lifecycle adds to the registry's version page and version API."""

from __future__ import annotations

from django.urls import reverse

from . import policy, promotion, selectors, services
from .forms import AnnotationForm
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


def api_available_transitions(version, request) -> list[str]:
    user = getattr(request, "user", None)
    perms = _request_cache(request, "transition_perms", dict)
    return services.transitions_available(version=version, user=user, cache=perms)


def api_signoffs(version, request) -> list[dict]:
    return SignOffSerializer(selectors.signoffs_of(version), many=True).data


def api_required_signoffs(version, request) -> int:
    return policy.required_approvals(
        version.model.risk_tier, _request_cache(request, "policy_table", policy.policy_table)
    )


def version_panel_context(request, version) -> dict:
    """State, the transitions this user may take now, sign-off status and the timeline."""
    user = request.user
    signoffs = selectors.signoffs_of(version)
    required = policy.required_approvals(version.model.risk_tier)
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
        "required_approvals": required,
        "timeline": version_history(version),
    }
