"""Notifications: the one path by which the portal tells people of something.

A notification is a row first, written in the transaction of the action that caused it
(``notifications_write``); its email, for people who want it, is queued when that transaction
commits and sent by a Celery task (``mail.py``). What causes them:

- a committed lifecycle step (``notifications_for_transition``, called by the transition
  service beside the transition record): see ``TRANSITION_EVENTS`` for who hears what;
- the ``review-reminders`` agent (``review_alerts_run``, beat): reviewers reminded when a version
  waits in review past its tier's service level, admins told after the second interval;
- the ``review-scheduler`` agent (``reviews_flag_due``, beat): owners told that a champion's
  periodic review is due;
- the drift monitor (``drift_flag_notify``): owners and operators told of a drift flag;
- a deactivated person who held a reviewer grant (``reviews_flag_for_reassignment``, on the
  access services' ``user_deactivated`` signal): the owners of each model with a version in
  review are told that the review needs another reviewer;
- a change proposed to a model's test suite (``suite_proposal_notify``, called by the test
  suite services in their transaction): the people who may decide it are told, and its author
  hears when it is approved, rejected or superseded.

People read them in their inbox and choose which kinds also come by email
(``email_preferences_set``); review requests cannot be switched off while they review.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.access.services import service_account_get
from governance.audit.services import account_event_record, agent_event_record
from governance.errors import ActionError, ActionForbidden
from governance.registry.models import MLModel, ModelVersion, VersionState
from workflows.lifecycle.policy import effective_risk_tier

from . import recipients
from .models import (
    REVIEWER_MANDATORY,
    AlertKind,
    EmailPreference,
    Notification,
    NotificationEvent,
    ReviewAlert,
    ReviewServiceLevel,
)

E = NotificationEvent

REVIEW_AGENT = "review-scheduler"
REMINDER_AGENT = "review-reminders"

# Hours in review before reviewers are reminded and before admins are told, per risk tier,
# for tiers without a ReviewServiceLevel row (admins edit the rows).
DEFAULT_REVIEW_SERVICE_LEVELS = {
    "low": {"remind_after_hours": 120, "escalate_after_hours": 240},
    "medium": {"remind_after_hours": 72, "escalate_after_hours": 168},
    "high": {"remind_after_hours": 48, "escalate_after_hours": 96},
    "critical": {"remind_after_hours": 24, "escalate_after_hours": 48},
}


# --- Writing notifications -------------------------------------------------------------------


def notifications_write(
    *,
    event: str,
    people: Iterable,
    model: MLModel,
    version: ModelVersion | None,
    occasion: str,
    context: dict,
) -> list[int]:
    """One notification per person for this event and occasion, in the caller's transaction;
    their emails are queued once it commits. Written twice for one occasion, nothing changes.
    Returns the ids of the notifications whose email waits to be sent."""
    people = list(people)
    if not people:
        return []
    opted_out = set(
        EmailPreference.objects.filter(user__in=people, event=event, email=False).values_list("user_id", flat=True)
    )
    Notification.objects.bulk_create(
        [
            Notification(
                recipient=person,
                event=event,
                model=model,
                version=version,
                occasion=occasion,
                context=context,
                email_wanted=bool(person.email) and (event in REVIEWER_MANDATORY or person.pk not in opted_out),
            )
            for person in people
        ],
        ignore_conflicts=True,
    )
    to_send = list(
        Notification.objects.filter(
            recipient__in=people, event=event, occasion=occasion, email_wanted=True, sent_at__isnull=True, attempts=0
        ).order_by("pk").values_list("pk", flat=True)
    )
    if to_send:
        from .mail import emails_enqueue

        transaction.on_commit(partial(emails_enqueue, to_send))
    return to_send


def version_facts(version: ModelVersion) -> dict:
    """What every message about a version names: model, version and risk tier."""
    model = version.model
    return {
        "model_name": model.name,
        "version_number": version.number,
        "risk_tier": model.get_risk_tier_display(),
        "risk_tier_proposed": model.risk_tier_status == "proposed",
    }


def evidence_line(version: ModelVersion) -> str:
    """The latest test run and warm-up of the version, in one line."""
    from workflows.testsuites.models import CheckOutcome, TestRun, WarmupRun

    run = TestRun.objects.filter(version=version).order_by("-sequence").first()
    warmup = WarmupRun.objects.filter(version=version).order_by("-id").first()
    if run is None:
        tests = "no test run"
    else:
        passed = run.results.filter(outcome=CheckOutcome.PASSED).count()
        tests = f"tests {run.get_status_display().lower()} ({passed} of {run.checks_planned} checks passed, run {run.sequence})"
    if warmup is None:
        warm = "no warm-up"
    else:
        warm = f"warm-up {warmup.get_status_display().lower()}"
        if warmup.rows:
            warm += f" on {warmup.rows} rows of {warmup.get_source_display().lower()}"
        if warmup.agreement is not None:
            warm += f", {warmup.agreement:.1%} agreement with the champion"
    return f"{tests[0].upper()}{tests[1:]}; {warm}."


def _previous_champion(version: ModelVersion) -> int | None:
    from workflows.lifecycle.models import TransitionRecord

    retired = (
        TransitionRecord.objects.filter(version__model_id=version.model_id, name="retire", details__replaced_by=version.number)
        .order_by("-at", "-id")
        .select_related("version")
        .first()
    )
    return retired.version.number if retired else None


# Who hears of each committed transition, and which facts their message shows.
TRANSITION_EVENTS: dict[str, tuple[tuple[str, Callable[[ModelVersion], list]], ...]] = {
    "pass_warmup": ((E.REVIEW_REQUESTED, recipients.reviewers_who_may_sign),),
    "fail_tests": ((E.TESTS_FAILED, recipients.submitters_and_owners),),
    "fail_warmup": ((E.WARMUP_FAILED, recipients.submitters_and_owners),),
    "approve": (
        (E.APPROVED, recipients.submitters_and_owners),
        (E.AWAITING_PROMOTION, lambda version: recipients.operators(version.model)),
    ),
    "reject": ((E.REJECTED, recipients.submitters_and_owners),),
    "request_changes": ((E.CHANGES_REQUESTED, recipients.submitters_and_owners),),
    "withdraw": ((E.WITHDRAWN, recipients.submitters_and_owners),),
    "promote_to_champion": ((E.CHAMPION_CHANGED, lambda version: recipients.owners_and_operators(version.model)),),
    "rollback": ((E.CHAMPION_CHANGED, lambda version: recipients.owners_and_operators(version.model)),),
}


def notifications_for_transition(record) -> None:
    """Tell the people concerned of a transition, in its transaction. Whoever took the step
    is not told of it."""
    events = TRANSITION_EVENTS.get(record.name)
    if not events:
        return
    version = record.version
    context = {
        **version_facts(version),
        "actor": (record.actor.display_name if record.actor_id and not record.actor.is_service_account else "")
        or record.agent_name
        or "the portal",
        "annotation": record.annotation,
        "from_state": record.from_state,
        "to_state": record.to_state,
    }
    if record.name == "pass_warmup":
        # The number in force, as recorded with the step; nobody has signed yet.
        context.update(approvals_needed=record.policy.get("required_approvals"), evidence=evidence_line(version))
    if record.name in ("promote_to_champion", "rollback"):
        context["previous_champion"] = _previous_champion(version)
    for event, who in events:
        people = [person for person in who(version) if person.pk != record.actor_id]
        notifications_write(
            event=event, people=people, model=version.model, version=version,
            occasion=f"transition:{record.pk}", context=context,
        )


def drift_flag_notify(*, version: ModelVersion, summary: str, occasion: str) -> list[int]:
    """Tell the model's owners and operators that the drift monitor flagged this version, once
    per ``occasion`` (the flag's own id): for the agent that raises the flag to call in the
    transaction that records it."""
    return notifications_write(
        event=E.DRIFT_FLAGGED, people=recipients.owners_and_operators(version.model), model=version.model,
        version=version, occasion=f"drift:{occasion}", context={**version_facts(version), "summary": summary},
    )


# --- Deactivated reviewers ------------------------------------------------------------------

REASSIGNMENT_AGENT = "review-reassignment"


def reviews_flag_for_reassignment(*, user, actor) -> list[int]:
    """Flag the reviews a deactivated person can no longer sign, in the deactivation's transaction.

    For each version in review on a model where the person holds the reviewer grant (their own
    or through a team), one audit entry ``version.review_reassignment_needed`` names the version
    and the person, and the model's owners are told (``REVIEWER_DEACTIVATED``). Nothing of the
    review is changed: the person's sign-offs stay, and no longer count because only an active
    signer's do (``approvals_that_count``). Returns the ids of the notifications to email.
    """
    from django.db.models import Q

    from governance.access.models import ModelGrant
    from governance.access.roles import ObjectRole
    from governance.access.services import is_directory
    from workflows.lifecycle.policy import version_policy
    from workflows.lifecycle.services import approvals_that_count

    grants = ModelGrant.objects.filter(role=ObjectRole.REVIEWER).filter(
        Q(user=user) | Q(group__in=user.groups.all())
    )
    versions = (
        ModelVersion.objects.filter(state=VersionState.IN_REVIEW, model__in=grants.values("model"))
        .select_related("model")
        .order_by("model__name", "number")
    )
    by_directory = is_directory(actor)
    to_send: list[int] = []
    occasion_time = timezone.now().isoformat(timespec="seconds")
    for version in versions:
        approvals = len(approvals_that_count(version))
        needed = version_policy(version)["required_approvals"]
        facts = {
            **version_facts(version),
            "reviewer": user.display_name,
            "reviewer_username": user.username,
            "by_directory": by_directory,
            "approvals": approvals,
            "approvals_needed": needed,
        }
        agent_event_record(
            agent_name=REASSIGNMENT_AGENT,
            action="version.review_reassignment_needed",
            summary=f"{user.username} was deactivated and can no longer sign {version}; the owners are told.",
            data={"reviewer": user.username, "approvals": approvals, "approvals_needed": needed},
            obj=version,
            actor=actor,
        )
        to_send += notifications_write(
            event=E.REVIEWER_DEACTIVATED, people=recipients.owners(version.model), model=version.model,
            version=version, occasion=f"reviewer_deactivated:{user.pk}:{version.pk}:{occasion_time}", context=facts,
        )
    return to_send


def reviews_flag_on_deactivation(sender, user, actor, **kwargs) -> None:
    """Receiver of ``governance.access.signals.user_deactivated``."""
    reviews_flag_for_reassignment(user=user, actor=actor)


# --- Test suite change proposals ------------------------------------------------------------

# The event each status of a proposal sends to its author (withdrawn: the author did it).
SUITE_DECISION_EVENTS = {
    "approved": E.SUITE_CHANGE_APPROVED,
    "rejected": E.SUITE_CHANGE_REJECTED,
    "superseded": E.SUITE_CHANGE_SUPERSEDED,
}


def suite_proposal_notify(*, proposal, actor, changes: list[str]) -> list[int]:
    """Tell the people concerned of a test suite proposal, in the caller's transaction: when it
    is pending, everyone who may decide it; once approved, rejected or superseded, its author.
    Whoever acted is not told of it. ``changes`` are the proposal's differences, in words."""
    model = proposal.model
    context = {
        "model_name": model.name,
        "proposal_id": proposal.pk,
        "proposed_by": proposal.proposed_by.display_name,
        "reason": proposal.reason,
        "changes": changes,
        "decided_by": proposal.decided_by.display_name if proposal.decided_by_id else "",
        "decision_reason": proposal.decision_reason,
    }
    if proposal.status == "pending":
        event, people = E.SUITE_CHANGE_PROPOSED, recipients.suite_proposal_deciders(proposal)
    elif proposal.status in SUITE_DECISION_EVENTS:
        event, people = SUITE_DECISION_EVENTS[proposal.status], recipients.active_person(proposal.proposed_by)
    else:
        return []
    actor_pk = getattr(actor, "pk", None)
    return notifications_write(
        event=event, people=[person for person in people if person.pk != actor_pk], model=model, version=None,
        occasion=f"suite_proposal:{proposal.pk}:{proposal.status}", context=context,
    )


# --- The periodic review of champions ---------------------------------------------------------


def review_due_at(version: ModelVersion, now: datetime) -> datetime | None:
    """The latest due date of the champion's periodic review that has passed, or None."""
    days = settings.GOVERNANCE_REVIEW_INTERVAL_DAYS[effective_risk_tier(version.model)]
    since = version.state_changed_at
    periods = int((now - since) / timedelta(days=days))
    if periods < 1:
        return None
    return since + periods * timedelta(days=days)


def reviews_flag_due(*, now: datetime | None = None):
    """Flag champions whose periodic review is due and tell their owners, once per due date.

    Each due date is flagged once: a ReviewReminder row (unique per version and due date), an
    annotation on the version and a notification to each owner, in one transaction.
    """
    from workflows.lifecycle.services import agent_annotation_add
    from workflows.testsuites.jobs import agent_run_record
    from workflows.testsuites.models import ReviewReminder

    started = now or timezone.now()
    flagged = []
    agent = service_account_get(REVIEW_AGENT)
    for version in ModelVersion.objects.select_related("model").filter(state=VersionState.CHAMPION):
        due = review_due_at(version, started)
        if due is None:
            continue
        owners = recipients.owners(version.model)
        tier = effective_risk_tier(version.model)
        days = settings.GOVERNANCE_REVIEW_INTERVAL_DAYS[tier]
        try:
            with transaction.atomic():
                reminder = ReviewReminder.objects.create(version=version, due_at=due, notified=[u.username for u in owners])
                agent_annotation_add(
                    version=version, agent=agent, agent_name=REVIEW_AGENT,
                    text=f"Periodic review due since {due:%Y-%m-%d} ({tier} risk: every "
                    f"{days} days). Owners notified: {', '.join(u.username for u in owners) or 'none'}.",
                )
                notifications_write(
                    event=E.PERIODIC_REVIEW_DUE, people=owners, model=version.model, version=version,
                    occasion=f"due:{due.isoformat()}",
                    context={**version_facts(version), "due": due.date().isoformat(), "interval_days": days},
                )
        except IntegrityError:
            continue  # already flagged for this due date
        flagged.append({"version": str(version), "due": due.isoformat(), "notified": reminder.notified})
    summary = f"Checked champions: {len(flagged)} newly due for periodic review."
    return agent_run_record(agent_name=REVIEW_AGENT, action="flag_reviews_due", summary=summary, data={"flagged": flagged}, started_at=started)


# --- Reminders and escalation of reviews waiting too long -------------------------------------


def service_levels() -> dict[str, dict[str, int]]:
    """Every tier's service level in force, in one query."""
    table = {tier: dict(hours) for tier, hours in DEFAULT_REVIEW_SERVICE_LEVELS.items()}
    for tier, remind, escalate in ReviewServiceLevel.objects.values_list(
        "risk_tier", "remind_after_hours", "escalate_after_hours"
    ):
        table[tier] = {"remind_after_hours": remind, "escalate_after_hours": escalate}
    return table


def review_service_levels_ensure() -> None:
    """Create the default service-level rows where a tier has none (admins' numbers stay).

    Run after every ``migrate`` or test flush (``post_migrate``). Part of installing the portal,
    not a change anyone made: auditlog is off while it runs.
    """
    from auditlog.context import disable_auditlog

    with disable_auditlog():
        for tier, hours in DEFAULT_REVIEW_SERVICE_LEVELS.items():
            ReviewServiceLevel.objects.get_or_create(risk_tier=tier, defaults=hours)


def review_alerts_run(*, now: datetime | None = None) -> list[dict]:
    """Remind the reviewers of versions waiting in review past their tier's service level, and
    tell admins of those past the second interval; each once per interval.

    The interval a wait is in (1 for the first hours past the level, 2 past twice as many...)
    fires once: a ReviewAlert row under a unique constraint, its notifications and its agent
    event commit together or not at all, so a second scheduler, a retry or a late run finds
    it done. Returns what fired.
    """
    now = now or timezone.now()
    levels = service_levels()
    fired = []
    waiting = ModelVersion.objects.select_related("model").filter(state=VersionState.IN_REVIEW).order_by("pk")
    for version in waiting:
        level = levels[effective_risk_tier(version.model)]
        waited = now - version.state_changed_at
        for kind, hours in (
            (AlertKind.REMINDER, level["remind_after_hours"]),
            (AlertKind.ESCALATION, level["escalate_after_hours"]),
        ):
            period = int(waited / timedelta(hours=hours))
            if period >= 1:
                alert = _review_alert_fire(version=version, kind=kind, period=period, hours=hours, waited=waited)
                if alert is not None:
                    fired.append(alert)
    return fired


def _review_alert_fire(*, version: ModelVersion, kind: str, period: int, hours: int, waited: timedelta) -> dict | None:
    from workflows.lifecycle.services import approvals_that_count
    from workflows.lifecycle.models import SignOff

    fired = ReviewAlert.objects.filter(
        version=version, kind=kind, review_started_at=version.state_changed_at, period=period
    )
    if fired.exists():
        return None  # the common case, checked cheaply; the unique constraint decides races
    signed = set(SignOff.objects.filter(version=version).values_list("signer_id", flat=True))
    waiting_for = [user for user in recipients.reviewers_who_may_sign(version) if user.pk not in signed]
    people = waiting_for if kind == AlertKind.REMINDER else recipients.admins()
    event = E.REVIEW_REMINDER if kind == AlertKind.REMINDER else E.REVIEW_ESCALATION
    context = {
        **version_facts(version),
        "waited_hours": int(waited / timedelta(hours=1)),
        "service_level_hours": hours,
        "approvals": len(approvals_that_count(version)),
        "waiting_for": [user.display_name for user in waiting_for],
    }
    try:
        with transaction.atomic():
            alert = ReviewAlert.objects.create(
                version=version, kind=kind, review_started_at=version.state_changed_at, period=period,
                notified=[user.username for user in people],
            )
            notifications_write(
                event=event, people=people, model=version.model, version=version,
                occasion=f"{kind}:{version.state_changed_at.isoformat()}:{period}", context=context,
            )
            agent_event_record(
                agent_name=REMINDER_AGENT,
                action=f"agent.review_{kind}",
                summary=(
                    f"{version} has waited {context['waited_hours']} h in review (service level {hours} h): "
                    f"{'reminded' if kind == AlertKind.REMINDER else 'escalated to'} "
                    f"{', '.join(alert.notified) or 'nobody'}."
                ),
                data={"alert": alert.pk, "period": period, "notified": alert.notified, "waited_hours": context["waited_hours"]},
                obj=version,
                actor=service_account_get(REMINDER_AGENT),
            )
    except IntegrityError:
        return None  # this interval has fired already
    return {"version": str(version), "kind": kind, "period": period, "notified": alert.notified}


# --- The inbox and preferences ----------------------------------------------------------------


def notification_mark_read(*, actor, notification: Notification) -> Notification:
    """Mark one of the actor's own notifications read (once; later calls change nothing)."""
    if notification.recipient_id != getattr(actor, "pk", None):
        raise ActionForbidden("Only its recipient marks a notification read.")
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notifications_mark_all_read(*, actor) -> int:
    return Notification.objects.filter(recipient=actor, read_at__isnull=True).update(read_at=timezone.now())


def email_preferences_set(*, actor, user, email_events: Iterable[str]) -> list[str]:
    """Set which kinds of event also come to ``user`` by email (``email_events``; the others
    stay in the inbox only). People set their own. Review requests and reminders keep coming
    by email while the person holds a reviewer grant. Recorded in the audit trail."""
    if actor is None or actor.pk != user.pk or not actor.is_active:
        raise ActionForbidden("People choose their own email preferences.")
    wanted = set(email_events)
    unknown = wanted - set(E.values)
    if unknown:
        raise ActionError(f"Unknown kind of event: {', '.join(sorted(unknown))}.", code="invalid_choice", field="events")
    if recipients.holds_reviewer_grant(user):
        refused = [E(event).label for event in REVIEWER_MANDATORY if event not in wanted]
        if refused:
            raise ActionError(
                f"While you hold a reviewer grant, these come by email: {'; '.join(refused)}.",
                code="mandatory_for_reviewers", field="events",
            )
    off = sorted(set(E.values) - wanted)
    with transaction.atomic():
        for event in E.values:
            EmailPreference.objects.update_or_create(user=user, event=event, defaults={"email": event in wanted})
        account_event_record(
            action="notifications.preferences_changed",
            user=user,
            actor=actor,
            summary=f"{user.username} gets by email all but: {', '.join(off) or 'nothing left out'}.",
            data={"email_off": off},
        )
    return off


def email_events_of(user) -> set[str]:
    """The kinds of event ``user`` has chosen to get by email (all but those switched off)."""
    off = set(EmailPreference.objects.filter(user=user, email=False).values_list("event", flat=True))
    return {event for event in E.values if event not in off}
