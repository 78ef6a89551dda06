"""The test suites' panel on the version page: ``{% load testsuites_panels %}{% testsuites_version_panel version %}``."""

from django import template

from governance.registry.panels import panel_render
from workflows.testsuites.selectors import version_panel_context

register = template.Library()


@register.simple_tag(takes_context=True)
def testsuites_version_panel(context, version):
    """Test runs with their evidence, progress while they run, and the warm-up report."""
    return panel_render(context, "testsuites/_version_panel.html", version_panel_context(context["request"], version))
