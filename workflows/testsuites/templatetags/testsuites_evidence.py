"""The evidence in words and charts: ``{% load testsuites_evidence %}``.

``{% evidence_summary version as evidence %}`` gathers the evidence summary (see
templates/lifecycle/_evidence_summary.html); ``result|check_view`` reads one check result in
words; ``{% run_charts run as charts %}`` draws a test run's standard charts.
"""

from django import template

from workflows.testsuites import charts, evidence, selectors

register = template.Library()


@register.simple_tag
def evidence_summary(version) -> dict:
    return selectors.evidence_summary(version)


@register.filter
def check_view(result) -> evidence.CheckView:
    return evidence.check_view(result)


@register.simple_tag
def run_charts(run) -> dict:
    return charts.run_evidence_charts(run)
