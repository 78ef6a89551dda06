"""The access panel on the model page: ``{% load access_panels %}{% access_model_panel model %}``."""

from django import template

from governance.access.panels import model_access_context
from governance.registry.panels import panel_render

register = template.Library()


@register.simple_tag(takes_context=True)
def access_model_panel(context, model):
    """Who holds which grant on the model, and a link to manage them."""
    return panel_render(context, "access/_model_grants_panel.html", model_access_context(context["request"], model))
