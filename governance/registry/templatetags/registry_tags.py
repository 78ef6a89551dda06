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


@register.simple_tag(takes_context=True)
def render_panel(context, panel: dict):
    """Render a registered page panel with its own context.

    The panel's values are available both as ``panel.<name>`` and directly by name, on top of
    the page's context (``version``, ``model``, ``request``...), so a panel template reads the
    same way whether the page includes it or a test renders it on its own.
    """
    values = dict(panel["context"])
    template_obj = context.template.engine.get_template(panel["template"])
    with context.push(panel=values, **values):
        return template_obj.render(context)
