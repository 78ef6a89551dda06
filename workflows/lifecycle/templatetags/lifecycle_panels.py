"""The lifecycle's panel on the version page: ``{% load lifecycle_panels %}{% lifecycle_version_panel version %}``."""

from django import template

from governance.registry.panels import panel_render
from workflows.lifecycle.panels import version_panel_context

register = template.Library()


@register.simple_tag(takes_context=True)
def lifecycle_version_panel(context, version):
    """State, the transitions this user may take now, sign-offs and the timeline."""
    return panel_render(context, "lifecycle/_version_panel.html", version_panel_context(context["request"], version))


@register.simple_tag(takes_context=True)
def permission_grid_link(context):
    """The permission grid's address for admins (the admin index links it), else empty."""
    from django.urls import reverse

    from governance.access.selectors import is_admin

    request = context.get("request")
    if request is None or not is_admin(request.user):
        return ""
    return reverse("admin_permission_grid")
