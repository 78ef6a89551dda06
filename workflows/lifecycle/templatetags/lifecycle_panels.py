"""The lifecycle's panels: ``{% load lifecycle_panels %}``, then ``{% lifecycle_version_panel version %}`` and
``{% lifecycle_findings_panel version %}`` on the version page, ``{% lifecycle_model_findings_panel model %}``
and ``{% overdue_version_numbers model as overdue %}`` on the model page."""

from django import template

from governance.registry.panels import panel_render
from workflows.lifecycle import findings
from workflows.lifecycle.panels import findings_panel_context, model_findings_context, version_panel_context

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


@register.simple_tag(takes_context=True)
def lifecycle_findings_panel(context, version):
    """The version's conditions and findings, their history and the close form."""
    return panel_render(context, "lifecycle/_findings_panel.html", findings_panel_context(context["request"], version))


@register.simple_tag(takes_context=True)
def lifecycle_model_findings_panel(context, model):
    """The conditions and findings of every version of the model."""
    return panel_render(context, "lifecycle/_model_findings_panel.html", model_findings_context(context["request"], model))


@register.simple_tag
def overdue_version_numbers(model) -> list[int]:
    """Numbers of the model's versions with a condition open past its due date, in order."""
    return findings.overdue_version_numbers(model)
