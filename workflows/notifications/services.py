"""Notifications: the portal's mail to people about their models.

Today one: the periodic review of a champion. The scheduled ``review-scheduler`` agent
(``tasks.flag_reviews_due``, hourly) calls ``reviews_flag_due``, which flags each champion whose
review is due and mails its owners once per due date (``templates/emails/review_due.txt``).
Each risk tier has its own interval (``GOVERNANCE_REVIEW_INTERVAL_DAYS``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from governance.access.selectors import owner_users
from governance.access.services import service_account_get
from governance.registry.models import ModelVersion, VersionState
from workflows.lifecycle.services import agent_annotation_add
from workflows.testsuites.jobs import agent_run_record
from workflows.testsuites.models import AgentRun, ReviewReminder

REVIEW_AGENT = "review-scheduler"


def review_due_at(version: ModelVersion, now: datetime) -> datetime | None:
    """The latest due date of the champion's periodic review that has passed, or None."""
    days = settings.GOVERNANCE_REVIEW_INTERVAL_DAYS[version.model.risk_tier]
    since = version.state_changed_at
    periods = int((now - since) / timedelta(days=days))
    if periods < 1:
        return None
    return since + periods * timedelta(days=days)


def reviews_flag_due() -> AgentRun:
    """Flag champions whose periodic review is due and mail their owners, once per due date.

    Each due date is flagged once: a ReviewReminder row (unique per version and due date) and an
    annotation on the version, then the mail to the owners who have an address.
    """
    started = timezone.now()
    flagged = []
    agent = service_account_get(REVIEW_AGENT)
    for version in ModelVersion.objects.select_related("model").filter(state=VersionState.CHAMPION):
        due = review_due_at(version, started)
        if due is None:
            continue
        owners = list(owner_users(model=version.model, active_only=True).order_by("username"))
        try:
            with transaction.atomic():
                reminder = ReviewReminder.objects.create(version=version, due_at=due, notified=[u.username for u in owners])
                agent_annotation_add(
                    version=version, agent=agent, agent_name=REVIEW_AGENT,
                    text=f"Periodic review due since {due:%Y-%m-%d} ({version.model.risk_tier} risk: every "
                    f"{settings.GOVERNANCE_REVIEW_INTERVAL_DAYS[version.model.risk_tier]} days). Owners notified: "
                    f"{', '.join(u.username for u in owners) or 'none'}.",
                )
        except IntegrityError:
            continue  # already flagged for this due date
        review_due_mail_send(version=version, due=due, reminder=reminder, owners=owners)
        flagged.append({"version": str(version), "due": due.isoformat(), "notified": reminder.notified})
    summary = f"Checked champions: {len(flagged)} newly due for periodic review."
    return agent_run_record(agent_name=REVIEW_AGENT, action="flag_reviews_due", summary=summary, data={"flagged": flagged}, started_at=started)


def review_due_mail_send(*, version: ModelVersion, due: datetime, reminder: ReviewReminder, owners: list) -> bool:
    """Mail a champion's owners that its periodic review is due; False when none has an address."""
    recipients = [u.email for u in owners if u.email]
    if not recipients:
        return False
    body = render_to_string("emails/review_due.txt", {"version": version, "model": version.model, "due": due, "reminder": reminder})
    send_mail(f"Periodic review due: {version.model.name} v{version.number}", body, None, recipients)
    return True
