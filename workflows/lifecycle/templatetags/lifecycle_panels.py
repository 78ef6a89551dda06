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


@register.filter
def state_words(code) -> str:
    """A version state's label ("In review"), or the value as given when it names none."""
    from governance.registry.models import VersionState

    return dict(VersionState.choices).get(code, code or "")


@register.filter
def transition_words(name) -> str:
    """What a transition does, in the words of its rule ("Promote to champion")."""
    from workflows.lifecycle.rules import RULES

    rule = RULES.get(name)
    return rule.description if rule else name


@register.filter
def decision_words(details) -> str:
    """A sign-off's decision as the signer chose it: "Approve with conditions" when the approval
    raised conditions, else the decision's label ("Request changes")."""
    from workflows.lifecycle.models import Decision

    decision = (details or {}).get("decision", "")
    findings_raised = (details or {}).get("findings") or []
    if decision == Decision.APPROVE and any(f.get("kind") == "condition" for f in findings_raised):
        return "Approve with conditions"
    return dict(Decision.choices).get(decision, decision)


@register.filter
def signoff_decision_words(signoff) -> str:
    """The same words for a SignOff row: "Approve with conditions" when it raised conditions."""
    findings_raised = [{"kind": finding.kind} for finding in signoff.findings.all()] if signoff.decision == "approve" else []
    return decision_words({"decision": signoff.decision, "findings": findings_raised})
