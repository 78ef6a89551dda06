"""The test suite that gates a model's versions: who changes it, and how.

An owner's change is a proposal (``suite_change_propose``) that applies only when a validator
with the reviewer grant, or an admin, who neither owns the model nor made the proposal approves
it (``suite_proposal_approve``); it may be rejected (``suite_proposal_reject``) or withdrawn by
its author (``suite_proposal_withdraw``). Those independent validators and admins change the
suite directly (``suite_config_set``). Every door (page, API, admin) calls these functions.

Each one locks the model's row first, so changes to one model's suite run one after another:
of two approvals at once, the second sees the suite the first applied. A proposal records the
suite in force when it was made (its base); once the suite in force is another, the proposal
is superseded, never applied over a change its author did not see. Each writes its audit entry
and its notifications (a new proposal to those who may decide it, a decision to its author) in
its own transaction.

Runs keep the checks they were queued with (their config snapshot); a pending proposal changes
nothing that runs. The agents' work is elsewhere: jobs.py, runs.py and warmup.py.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from governance.access.services import audit_actor
from governance.audit.models import EventKind
from governance.audit.services import audit_append
from governance.errors import ActionConflict, ActionError, ActionForbidden
from governance.registry.models import MLModel
from workflows.lifecycle.policy import effective_risk_tier
from workflows.notifications.services import suite_proposal_notify

from . import checks, selectors, suite_diff
from .models import ProposalStatus, SuiteChangeProposal, TestSuiteConfig


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ActionError(f"Give a reason for {what}.", code="reason_required", field="reason")
    return text


def _clean_checks(model: MLModel, raw_checks) -> list[dict]:
    try:
        return checks.validate_checks(raw_checks, task=model.task)
    except checks.CheckConfigError as exc:
        raise ActionError(str(exc), code="invalid_checks", field="checks") from exc


def _lock_model(model_id: int) -> MLModel:
    return MLModel.objects.select_for_update().get(pk=model_id)


def _in_force(model: MLModel) -> tuple[TestSuiteConfig | None, list[dict]]:
    """The model's suite row (locked) if it has one, and the checks in force."""
    config = TestSuiteConfig.objects.select_for_update().filter(model=model).first()
    if config is not None:
        return config, config.checks
    return None, checks.default_checks(task=model.task, risk_tier=effective_risk_tier(model))


def _differences(old: list[dict], new: list[dict]) -> list[str]:
    return [row.summary for row in suite_diff.suite_diff(old, new) if row.status != "unchanged"]


def _apply(model: MLModel, config: TestSuiteConfig | None, clean: list[dict], actor) -> TestSuiteConfig:
    if config is None:
        config = TestSuiteConfig(model=model)
    config.checks = clean
    config.updated_by = actor
    with audit_actor(actor):
        config.save()
    return config


def _supersede_others(model: MLModel, applied: list[dict], actor, *, keep: int | None = None) -> None:
    """Pending proposals of ``model`` made on another suite than ``applied`` are superseded."""
    now = timezone.now()
    stale = SuiteChangeProposal.objects.select_for_update().filter(model=model, status=ProposalStatus.PENDING)
    for proposal in stale.exclude(pk=keep):
        if proposal.base_checks != applied:
            _mark_superseded(proposal, now, actor)


def _mark_superseded(proposal: SuiteChangeProposal, now, actor) -> None:
    proposal.status = ProposalStatus.SUPERSEDED
    proposal.decided_at = now
    proposal.decided_by = None
    proposal.decision_reason = "The suite in force changed after this proposal was made."
    proposal.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
    _proposal_event("suite.proposal_superseded", proposal, actor,
                    f"The proposal by {proposal.proposed_by.username} to change the test suite of "
                    f"{proposal.model.name} is superseded: the suite in force changed after it was made.")


def _proposal_event(action: str, proposal: SuiteChangeProposal, actor, summary: str, **extra) -> None:
    """The proposal's step in the audit trail, and the notifications it sends (those who may
    decide a new proposal; its author of a decision), in the step's transaction."""
    suite_proposal_notify(proposal=proposal, actor=actor, changes=_differences(proposal.base_checks, proposal.proposed_checks))
    audit_append(
        kind=EventKind.CHANGE,
        action=action,
        summary=summary,
        data={
            "proposal_id": proposal.pk,
            "status": proposal.status,
            "proposed_by": proposal.proposed_by.username,
            "reason": proposal.reason,
            "decision_reason": proposal.decision_reason,
            "changes": _differences(proposal.base_checks, proposal.proposed_checks),
            **extra,
        },
        obj=proposal,
        actor=actor,
    )


def _require_person(actor) -> None:
    if actor is None or not actor.is_authenticated:
        raise ActionForbidden("Sign in first.")
    if not actor.is_active:
        raise ActionForbidden("This account is deactivated.")


def suite_config_set(*, actor, model: MLModel, raw_checks, reason: str) -> TestSuiteConfig:
    """Change a model's suite at once: validators with the reviewer grant and admins who do not
    own the model. Pending proposals made on the old suite are superseded."""
    _require_person(actor)
    if not selectors.may_set_suite(actor, model):
        raise ActionForbidden(
            "Only a validator with the reviewer grant or an admin who does not own the model changes its test "
            "suite directly; owners propose a change for a validator to approve."
        )
    reason = _reason(reason, "the change")
    clean = _clean_checks(model, raw_checks)
    with transaction.atomic():
        model = _lock_model(model.pk)
        config, current = _in_force(model)
        if clean == current:
            raise ActionError("This is the suite in force already: nothing to change.", code="unchanged", field="checks")
        config = _apply(model, config, clean, actor)
        audit_append(
            kind=EventKind.CHANGE,
            action="suite.changed",
            summary=f"{actor.username} changed the test suite of {model.name}: {'; '.join(_differences(current, clean))}.",
            data={"reason": reason, "changes": _differences(current, clean), "checks": clean},
            obj=config,
            actor=actor,
        )
        _supersede_others(model, clean, actor)
    return config


def suite_change_propose(*, actor, model: MLModel, raw_checks, reason: str) -> SuiteChangeProposal:
    """An owner's change to the suite, recorded against the suite in force; nothing applies yet."""
    _require_person(actor)
    if not selectors.may_propose_suite(actor, model):
        raise ActionForbidden("Only the model's owners (and its validators and admins) propose changes to its test suite.")
    reason = _reason(reason, "the change")
    clean = _clean_checks(model, raw_checks)
    with transaction.atomic():
        model = _lock_model(model.pk)
        _, current = _in_force(model)
        if clean == current:
            raise ActionError("This is the suite in force already: nothing to propose.", code="unchanged", field="checks")
        proposal = SuiteChangeProposal.objects.create(
            model=model, base_checks=current, proposed_checks=clean, reason=reason, proposed_by=actor
        )
        _proposal_event(
            "suite.proposed", proposal, actor,
            f"{actor.username} proposed a change to the test suite of {model.name}: "
            f"{'; '.join(_differences(current, clean))}.",
        )
    return proposal


def _locked_pending(proposal: SuiteChangeProposal) -> tuple[MLModel, SuiteChangeProposal]:
    model = _lock_model(proposal.model_id)
    locked = SuiteChangeProposal.objects.select_for_update().get(pk=proposal.pk)
    locked.model = model
    return model, locked


def _require_pending(proposal: SuiteChangeProposal) -> None:
    if proposal.status != ProposalStatus.PENDING:
        raise ActionConflict(
            f"This proposal is no longer waiting for a decision: {proposal.get_status_display().lower()}.",
            code="not_pending",
        )


def _require_decider(actor, proposal: SuiteChangeProposal) -> None:
    refusal = selectors.proposal_decision_refusal(actor, proposal)
    if refusal:
        raise ActionForbidden(refusal)


def suite_proposal_approve(*, actor, proposal: SuiteChangeProposal, reason: str) -> SuiteChangeProposal:
    """Apply a pending proposal and record who approved it and why, in one transaction.

    A proposal whose base is no longer the suite in force (another change applied since, or the
    tier's defaults moved) is marked superseded, and the approval answers 409.
    """
    _require_person(actor)
    stale = False
    with transaction.atomic():
        model, proposal = _locked_pending(proposal)
        _require_decider(actor, proposal)
        _require_pending(proposal)
        reason = _reason(reason, "the approval")
        config, current = _in_force(model)
        now = timezone.now()
        if proposal.base_checks != current:
            _mark_superseded(proposal, now, actor)
            stale = True
        else:
            config = _apply(model, config, proposal.proposed_checks, actor)
            proposal.status = ProposalStatus.APPROVED
            proposal.decided_by = actor
            proposal.decided_at = now
            proposal.decision_reason = reason
            proposal.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
            _proposal_event(
                "suite.proposal_approved", proposal, actor,
                f"{actor.username} approved {proposal.proposed_by.username}'s change to the test suite of "
                f"{model.name}; it applies to the next test runs.",
                checks=proposal.proposed_checks,
            )
            _supersede_others(model, proposal.proposed_checks, actor, keep=proposal.pk)
    if stale:
        # Raised after the commit, so that the proposal stays marked superseded.
        raise ActionConflict(
            "The suite in force changed after this proposal was made, so it is superseded and nothing was "
            "applied; its author may propose again on the suite in force.",
            code="superseded",
        )
    return proposal


def suite_proposal_reject(*, actor, proposal: SuiteChangeProposal, reason: str) -> SuiteChangeProposal:
    """Refuse a pending proposal with a reason; the suite in force stays as it is."""
    _require_person(actor)
    with transaction.atomic():
        model, proposal = _locked_pending(proposal)
        _require_decider(actor, proposal)
        _require_pending(proposal)
        reason = _reason(reason, "the rejection")
        proposal.status = ProposalStatus.REJECTED
        proposal.decided_by = actor
        proposal.decided_at = timezone.now()
        proposal.decision_reason = reason
        proposal.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        _proposal_event(
            "suite.proposal_rejected", proposal, actor,
            f"{actor.username} rejected {proposal.proposed_by.username}'s change to the test suite of {model.name}.",
        )
    return proposal


def suite_proposal_withdraw(*, actor, proposal: SuiteChangeProposal, reason: str = "") -> SuiteChangeProposal:
    """Its author takes back a pending proposal."""
    _require_person(actor)
    with transaction.atomic():
        model, proposal = _locked_pending(proposal)
        if not selectors.may_withdraw_proposal(actor, proposal):
            raise ActionForbidden("Only the author of a proposal withdraws it.")
        _require_pending(proposal)
        proposal.status = ProposalStatus.WITHDRAWN
        proposal.decided_by = actor
        proposal.decided_at = timezone.now()
        proposal.decision_reason = (reason or "").strip()
        proposal.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        _proposal_event(
            "suite.proposal_withdrawn", proposal, actor,
            f"{actor.username} withdrew their change to the test suite of {model.name}.",
        )
    return proposal
