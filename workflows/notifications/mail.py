"""The email of a notification: what it says, and sending it after the action has committed.

``emails_enqueue`` hands each notification to the ``notifications.send_email`` task; the task
calls ``notification_email_send``, which claims the email under a lease (so two deliveries never
send it together), sends a text and an HTML part from ``templates/emails/notification.*`` with
absolute links from ``GOVERNANCE_BASE_URL``, and records the outcome on the row and in the audit
trail (to whom, which event, which object; never the body). A failure is retried by the task
with backoff, then by the recovery agent (``emails_recover``, part of ``jobs_recover``) until
``GOVERNANCE_EMAIL_MAX_ATTEMPTS``. Nothing here runs inside a workflow step's transaction, so
a dead mail server never holds one up or undoes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance.access.services import service_account_get
from governance.audit.services import agent_event_record

from .models import Notification, NotificationEvent

logger = logging.getLogger(__name__)

E = NotificationEvent
MAIL_AGENT = "mailer"


class EmailNotSent(Exception):
    """The mail server refused or could not be reached; the reason is on the notification."""


@dataclass
class Composed:
    subject: str
    headline: str
    lines: list[str] = field(default_factory=list)
    path: str = ""
    action: str = "Open the version"


def _tier(context: dict) -> str:
    tier = f"{context.get('risk_tier', '')} risk"
    return f"{tier} (proposed, not yet confirmed)" if context.get("risk_tier_proposed") else tier


def _said(context: dict, label: str) -> list[str]:
    return [f"{label}: {context['annotation']}"] if context.get("annotation") else []


# Notifications about a change to a model's test suite: they lead to the proposal's page.
SUITE_PROPOSAL_EVENTS = (E.SUITE_CHANGE_PROPOSED, E.SUITE_CHANGE_APPROVED, E.SUITE_CHANGE_REJECTED, E.SUITE_CHANGE_SUPERSEDED)


def _suite_changes(context: dict) -> list[str]:
    changes = context.get("changes") or []
    return [f"Changes: {'; '.join(changes)}."] if changes else []


def notification_path(notification: Notification) -> str:
    """Where the notification leads its recipient: the signing page for reviewers asked to
    sign, the version's page otherwise (the model's when there is no version)."""
    version = notification.version
    if notification.event in SUITE_PROPOSAL_EVENTS and notification.context.get("proposal_id"):
        return reverse(
            "testsuites:proposal_detail", kwargs={"slug": notification.model.slug, "pk": notification.context["proposal_id"]}
        )
    if version is None:
        return notification.model.get_absolute_url()
    if notification.event in (E.REVIEW_REQUESTED, E.REVIEW_REMINDER):
        return reverse("lifecycle:sign", kwargs={"slug": notification.model.slug, "number": version.number})
    return version.get_absolute_url()


def compose(notification: Notification) -> Composed:
    """The words of a notification, from the facts recorded with it."""
    c = notification.context
    name = f"{c.get('model_name', notification.model.name)} v{c.get('version_number', '')}".strip()
    actor = c.get("actor", "")
    event = notification.event
    if event == E.REVIEW_REQUESTED:
        needed = c.get("approvals_needed")
        composed = Composed(
            f"Review requested: {name}",
            f"{name} is in review and waits for your sign-off.",
            [
                f"Risk tier: {_tier(c)}.",
                f"Approvals still needed: {needed}." if needed is not None else "",
                f"Evidence: {c.get('evidence', '')}",
            ],
            action="Review and sign",
        )
    elif event == E.REVIEW_REMINDER:
        composed = Composed(
            f"Reminder: {name} waits for your sign-off",
            f"{name} has waited {c.get('waited_hours')} hours in review; the service level for {_tier(c)} is "
            f"{c.get('service_level_hours')} hours.",
            [f"Approvals so far: {c.get('approvals', 0)}."],
            action="Review and sign",
        )
    elif event == E.REVIEW_ESCALATION:
        waiting = c.get("waiting_for") or []
        composed = Composed(
            f"Overdue review: {name}",
            f"{name} has waited {c.get('waited_hours')} hours in review, past the {c.get('service_level_hours')} "
            f"hours allowed for {_tier(c)} before admins are told.",
            [
                f"Approvals so far: {c.get('approvals', 0)}.",
                f"Waiting for: {', '.join(waiting)}." if waiting else "Nobody may sign it now: it needs a reviewer grant.",
            ],
        )
    elif event == E.TESTS_FAILED:
        composed = Composed(f"Tests failed: {name}", f"The tests of {name} failed.", _said(c, "The test runner says"))
    elif event == E.WARMUP_FAILED:
        composed = Composed(f"Warm-up failed: {name}", f"The warm-up of {name} failed.", _said(c, "The warm-up runner says"))
    elif event == E.APPROVED:
        composed = Composed(f"Approved: {name}", f"{name} is approved.", _said(c, "Sign-offs"))
    elif event == E.REJECTED:
        composed = Composed(f"Rejected: {name}", f"{actor} rejected {name}.", _said(c, "Reason"))
    elif event == E.CHANGES_REQUESTED:
        composed = Composed(f"Changes requested: {name}", f"{actor} asked for changes to {name}.", _said(c, "What to change"))
    elif event == E.WITHDRAWN:
        composed = Composed(f"Withdrawn: {name}", f"{actor} withdrew {name}.", _said(c, "Reason"))
    elif event == E.AWAITING_PROMOTION:
        composed = Composed(
            f"Waiting for promotion: {name}", f"{name} is approved and waits for an operator to promote it.",
            [f"Risk tier: {_tier(c)}."],
        )
    elif event == E.CHAMPION_CHANGED:
        previous = c.get("previous_champion")
        replacing = f", in place of version {previous}" if previous else ""
        composed = Composed(
            f"New champion: {name}", f"{actor} made {name} the champion of {c.get('model_name')}{replacing}.",
            _said(c, "Reason"),
        )
    elif event == E.DRIFT_FLAGGED:
        composed = Composed(f"Drift flagged: {name}", f"The drift monitor flagged {name}.", [c.get("summary", "")])
    elif event == E.PERIODIC_REVIEW_DUE:
        composed = Composed(
            f"Periodic review due: {name}",
            f"The champion of {c.get('model_name')} (version {c.get('version_number')}, {_tier(c)}) is due for its "
            f"periodic review since {c.get('due')} (every {c.get('interval_days')} days).",
            ["Please review its recent performance and either confirm it, or submit a replacement version."],
        )
    elif event == E.SUITE_CHANGE_PROPOSED:
        model_name = c.get("model_name", notification.model.name)
        composed = Composed(
            f"Test suite change to decide: {model_name}",
            f"{c.get('proposed_by')} proposed a change to the test suite of {model_name}; it applies only once "
            "a validator who does not own the model approves it.",
            [*_suite_changes(c), f"Reason: {c.get('reason')}" if c.get("reason") else ""],
            action="Review the proposal",
        )
    elif event in (E.SUITE_CHANGE_APPROVED, E.SUITE_CHANGE_REJECTED):
        model_name = c.get("model_name", notification.model.name)
        verdict = "approved" if event == E.SUITE_CHANGE_APPROVED else "rejected"
        composed = Composed(
            f"Test suite change {verdict}: {model_name}",
            f"{c.get('decided_by')} {verdict} your change to the test suite of {model_name}"
            + ("; it applies to the next test runs." if verdict == "approved" else "; the suite in force stays as it was."),
            [*_suite_changes(c), f"Reason: {c.get('decision_reason')}" if c.get("decision_reason") else ""],
            action="Open the proposal",
        )
    elif event == E.SUITE_CHANGE_SUPERSEDED:
        model_name = c.get("model_name", notification.model.name)
        composed = Composed(
            f"Test suite change superseded: {model_name}",
            f"Your change to the test suite of {model_name} was not applied: the suite in force changed after you "
            "proposed it. You may propose again on the suite in force.",
            _suite_changes(c),
            action="Open the proposal",
        )
    elif event == E.REVIEWER_DEACTIVATED:
        composed = Composed(
            f"Reviewer gone: {name}",
            f"{c.get('reviewer')} was deactivated{' by the company directory' if c.get('by_directory') else ''} "
            f"and can no longer sign {name}: the review needs another reviewer.",
            [
                f"Approvals that count now: {c.get('approvals')} of {c.get('approvals_needed')}."
                if c.get("approvals_needed") is not None else "",
                "Their signatures stay in the record; an approval of theirs no longer counts towards the quorum.",
            ],
            action="Open the version",
        )
    else:  # pragma: no cover - every event is listed above
        composed = Composed(notification.get_event_display(), notification.get_event_display())
    composed.lines = [line for line in composed.lines if line]
    composed.path = notification_path(notification)
    return composed


def absolute_url(path: str) -> str:
    return settings.GOVERNANCE_BASE_URL.rstrip("/") + path


def email_message_build(notification: Notification) -> EmailMultiAlternatives:
    """The email: the portal's name in the subject, a text and an HTML part (user text escaped
    in HTML by the template), absolute links, and a List-Unsubscribe header that leads to the
    recipient's preferences."""
    composed = compose(notification)
    preferences = absolute_url(reverse("notifications:preferences"))
    context = {
        "composed": composed,
        "link": absolute_url(composed.path),
        "inbox_link": absolute_url(reverse("notifications:inbox")),
        "preferences_link": preferences,
        "recipient": notification.recipient,
        "portal_name": settings.GOVERNANCE_PORTAL_NAME,
    }
    subject = " ".join(f"[{settings.GOVERNANCE_PORTAL_NAME}] {composed.subject}".split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/notification.txt", context),
        to=[notification.recipient.email],
        headers={"List-Unsubscribe": f"<{preferences}>"},
    )
    message.attach_alternative(render_to_string("emails/notification.html", context), "text/html")
    return message


# --- Sending ---------------------------------------------------------------------------------


def emails_enqueue(notification_ids: list[int]) -> int:
    """Hand the emails to the broker. With the broker down they wait for the recovery agent."""
    from .tasks import send_notification_email

    queued = 0
    for pk in notification_ids:
        try:
            # No publish retries: the committed step must not wait on a broken broker.
            send_notification_email.apply_async(args=[pk], retry=False)
        except Exception as exc:  # noqa: BLE001 - any broker failure: the email stays unsent
            logger.warning("Could not queue the email of notification %s (the recovery agent retries it): %s", pk, exc)
            continue
        queued += 1
    return queued


def notification_email_send(*, notification_id: int) -> str:
    """Send one notification's email: "sent", "skipped" (sent already, not wanted, or being
    sent by another delivery) or raises EmailNotSent after recording the failure."""
    now = timezone.now()
    claimed = (
        Notification.objects.filter(pk=notification_id, email_wanted=True, sent_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(
            claimed_until=now + timedelta(seconds=settings.GOVERNANCE_EMAIL_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
    )
    if not claimed:
        return "skipped"
    notification = Notification.objects.select_related("recipient", "model", "version__model").get(pk=notification_id)
    recipient = notification.recipient
    if not recipient.is_active or not recipient.email:
        Notification.objects.filter(pk=notification_id).update(
            email_wanted=False, claimed_until=None,
            failure_reason="Not sent: the account was deactivated or has no address before the email went out.",
        )
        return "skipped"
    try:
        email_message_build(notification).send()
    except Exception as exc:  # noqa: BLE001 - a refused address, a dead server, a timeout...
        reason = f"{type(exc).__name__}: {exc}"[:500]
        logger.warning("Email of notification %s to %s failed: %s", notification_id, recipient.username, reason)
        with transaction.atomic():
            Notification.objects.filter(pk=notification_id).update(failure_reason=reason, claimed_until=None)
            _email_event(notification, "notification.email_failed", f"Email to {recipient.username} failed: {reason}", reason)
        raise EmailNotSent(reason) from exc
    with transaction.atomic():
        Notification.objects.filter(pk=notification_id).update(sent_at=timezone.now(), claimed_until=None)
        _email_event(notification, "notification.email_sent", f"Emailed {recipient.username}: {notification.get_event_display()}.")
    return "sent"


def _email_event(notification: Notification, action: str, summary: str, reason: str = "") -> None:
    """The email in the audit trail: to whom, which event, which object, which attempt."""
    data = {
        "notification": notification.pk,
        "recipient": notification.recipient.username,
        "address": notification.recipient.email,
        "event": notification.event,
        "attempt": notification.attempts,
    }
    if reason:
        data["reason"] = reason
    agent_event_record(
        agent_name=MAIL_AGENT,
        action=action,
        summary=summary,
        data=data,
        obj=notification.version or notification.model,
        actor=service_account_get(MAIL_AGENT),
    )


def retry_countdown(retries: int) -> int:
    """Seconds before the task's next try: doubling from GOVERNANCE_EMAIL_RETRY_SECONDS, kept
    under the broker's visibility timeout (a longer countdown would be delivered twice)."""
    return min(settings.GOVERNANCE_EMAIL_RETRY_SECONDS * 2**retries, 240)


def emails_recover(*, now: datetime | None = None) -> list[int]:
    """Queue again the emails still unsent: never tried (the broker was down), or failed and
    last tried more than GOVERNANCE_EMAIL_RESEND_SECONDS ago, while attempts remain."""
    now = now or timezone.now()
    before = now - timedelta(seconds=settings.GOVERNANCE_EMAIL_RESEND_SECONDS)
    due = (
        Notification.objects.filter(
            email_wanted=True, sent_at__isnull=True, attempts__lt=settings.GOVERNANCE_EMAIL_MAX_ATTEMPTS
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(attempts=0, created_at__lt=before) | Q(attempts__gt=0, last_attempt_at__lt=before))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:500]
    )
    ids = list(due)
    emails_enqueue(ids)
    return ids
