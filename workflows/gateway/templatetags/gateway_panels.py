"""The gateway's panel on the model page: ``{% load gateway_panels %}{% gateway_model_panel model %}``."""

from django import template

from governance.registry.panels import panel_render
from workflows.gateway import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def gateway_model_panel(context, model):
    """Production traffic of the last day, shadow errors, the latest drift check (flagged when
    over the model's threshold), and the way to the model's traces."""
    from workflows.gateway.drift import latest_drift

    return panel_render(
        context,
        "gateway/_model_panel.html",
        {"traffic": selectors.traffic_summary(model=model), "drift": latest_drift(model)},
    )
