"""Reminders and escalation of reviews that wait too long, on a fake clock: each fires once per
interval however often (or however many times at once) the scheduled agent runs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from governance.audit.models import AuditEvent
from tests import factories
from workflows.notifications import services, tasks
from workflows.notifications.models import Notification, ReviewAlert, ReviewServiceLevel

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(version_in, credit_model):
    """A version of the credit model, its tier left a proposal (medium): held to high's service
    level, 48 h and 96 h."""
    credit_model.risk_tier_status = "proposed"
    credit_model.save(update_fields=["risk_tier_status"])
    return version_in("in_review")


def alerts(kind):
    return list(ReviewAlert.objects.filter(kind=kind).order_by("period").values_list("period", flat=True))


def test_reminder_then_escalation_fire_once_each_on_a_fake_clock(waiting, admin_user, carol, dave):
    start = waiting.state_changed_at
    assert services.review_alerts_run(now=start + timedelta(hours=47)) == []

    fired = services.review_alerts_run(now=start + timedelta(hours=49))
    assert [(alert["kind"], alert["period"], alert["notified"]) for alert in fired] == [("reminder", 1, ["carol", "dave"])]
    # The same interval again, later in it, by a retry: nothing new.
    assert services.review_alerts_run(now=start + timedelta(hours=49)) == []
    assert services.review_alerts_run(now=start + timedelta(hours=90)) == []
    assert sorted(Notification.objects.filter(event="review_reminder").values_list("recipient__username", flat=True)) == [
        "carol", "dave",
    ]

    fired = services.review_alerts_run(now=start + timedelta(hours=97))
    assert {(alert["kind"], alert["period"]) for alert in fired} == {("reminder", 2), ("escalation", 1)}
    assert services.review_alerts_run(now=start + timedelta(hours=97)) == []
    # Every active admin hears of it (the factories' risk-admin too).
    assert admin_user.username in Notification.objects.filter(event="review_escalation").values_list("recipient__username", flat=True)
    escalation = Notification.objects.get(event="review_escalation", recipient=admin_user)
    assert escalation.context["waiting_for"] == ["Carol Tester", "Dave Tester"]
    assert alerts("reminder") == [1, 2] and alerts("escalation") == [1]

    # Each alert is one agent event in the audit trail.
    events = AuditEvent.objects.filter(kind="agent", agent_name="review-reminders").order_by("seq")
    assert [event.action for event in events] == ["agent.review_reminder", "agent.review_reminder", "agent.review_escalation"]
    assert "waited 49 h in review (service level 48 h): reminded carol, dave" in events.first().summary
    assert events.first().version_number == waiting.number


def test_reviewers_who_signed_are_not_reminded(version_in, credit_model, carol, dave):
    # High risk (confirmed): two approvals needed, so carol's leaves the version in review.
    credit_model.risk_tier, credit_model.risk_tier_status = "high", "confirmed"
    credit_model.save(update_fields=["risk_tier", "risk_tier_status"])
    waiting = version_in("in_review")
    factories.step(waiting, "approve", carol)
    fired = services.review_alerts_run(now=waiting.state_changed_at + timedelta(hours=49))
    assert fired[0]["notified"] == ["dave"]
    assert Notification.objects.get(event="review_reminder").context["approvals"] == 1


def test_admins_edit_the_service_level_of_a_tier(waiting):
    ReviewServiceLevel.objects.filter(risk_tier="high").update(remind_after_hours=2, escalate_after_hours=4)
    fired = services.review_alerts_run(now=waiting.state_changed_at + timedelta(hours=3))
    assert [alert["kind"] for alert in fired] == ["reminder"]


def test_the_scheduled_task_runs_the_agent(waiting):
    ReviewServiceLevel.objects.filter(risk_tier="high").update(remind_after_hours=1, escalate_after_hours=2)
    type(waiting).objects.filter(pk=waiting.pk).update(state_changed_at=waiting.state_changed_at - timedelta(hours=1, minutes=5))
    assert tasks.review_alerts() == "1 reminder(s) and escalation(s) sent."
    assert tasks.review_alerts() == "0 reminder(s) and escalation(s) sent."


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_send_one_reminder(waiting):
    now = waiting.state_changed_at + timedelta(hours=49)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait(5)
            results.append(services.review_alerts_run(now=now))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(len(fired) for fired in results) == [0, 1]
    assert ReviewAlert.objects.count() == 1 and Notification.objects.filter(event="review_reminder").count() == 2
    assert AuditEvent.objects.filter(action="agent.review_reminder").count() == 1
