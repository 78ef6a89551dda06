"""The test suites' panels: ``{% load testsuites_panels %}``, then ``{% testsuites_version_panel version %}``
on the version page and ``{% testsuites_model_panel model %}`` on the model page."""

from django import template

from governance.registry.panels import panel_render
from workflows.testsuites.forms import DecisionForm
from workflows.testsuites.selectors import model_suite_panel_context, version_panel_context
from workflows.testsuites.suite_diff import suite_lines

register = template.Library()


@register.simple_tag(takes_context=True)
def testsuites_version_panel(context, version):
    """Test runs with their evidence, progress while they run, and the warm-up report."""
    return panel_render(context, "testsuites/_version_panel.html", version_panel_context(context["request"], version))


@register.simple_tag(takes_context=True)
def testsuites_model_panel(context, model):
    """The suite in force and its pending change proposals, with a validator's decision forms."""
    values = model_suite_panel_context(context["request"], model)
    for item in values["pending"]:
        # One form per proposal on the page: ids of their own.
        item["decide_form"] = DecisionForm(auto_id=f"id_proposal{item['proposal'].pk}_%s")
    return panel_render(context, "testsuites/_model_suite_panel.html", values)


@register.filter
def suite_requirements(checks) -> list[str]:
    """A suite (a run's config snapshot) as one sentence per check."""
    return suite_lines(checks or [])
