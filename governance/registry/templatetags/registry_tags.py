"""Small template helpers of the registry pages."""

from django import template

from governance.registry.models import RiskTier, VersionState

register = template.Library()

_STATE_LABELS = dict(VersionState.choices)
_TIER_LABELS = dict(RiskTier.choices)


@register.inclusion_tag("registry/_state.html")
def state_badge(state: str):
    """A version's state as a coloured badge (works on raw annotated values too)."""
    return {"state": state, "label": _STATE_LABELS.get(state, state)}


@register.inclusion_tag("registry/_tier.html")
def tier_badge(tier: str):
    return {"tier": tier, "label": _TIER_LABELS.get(tier, tier)}
