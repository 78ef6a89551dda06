"""The audit panel on the model page: ``{% load audit_panels %}{% champion_on_date_panel model %}``."""

from django import template

from governance.audit.views import champion_panel_context
from governance.registry.panels import panel_render

register = template.Library()


@register.simple_tag(takes_context=True)
def champion_on_date_panel(context, model):
    """Which version was the model's champion on a given date, read from the audit trail."""
    return panel_render(context, "audit/_champion_on_date.html", champion_panel_context(context["request"], model))
