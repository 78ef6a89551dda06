"""The emails: what they say, where their links lead, what the trail keeps, and what a dead
mail server does (nothing to the workflow; the failure is recorded and sent again later)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail as outbox
from django.test import Client
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.registry.models import ModelVersion
from tests import factories
from workflows.notifications import mail, services
from workflows.notifications.models import Notification
from workflows.testsuites import jobs

from .conftest import use_smtp

pytestmark = pytest.mark.django_db


def walk_to_review(version, users, capture):
    with capture(execute=True):
        factories.step(version, "submit", users["alice"])
    for name in ("pass_tests", "pass_warmup"):
        with capture(execute=True):
            factories.step(version, name, users["agent"], annotation="ok")
    return ModelVersion.objects.get(pk=version.pk)


def test_review_request_email_has_both_parts_absolute_links_and_an_unsubscribe_header(
    version, users, send_at_once, django_capture_on_commit_callbacks
):
    walk_to_review(version, users, django_capture_on_commit_callbacks)

    assert send_at_once == ["sent", "sent"]
    assert sorted(message.to[0] for message in outbox.outbox) == ["carol@example.com", "dave@example.com"]
    message = next(m for m in outbox.outbox if m.to == ["carol@example.com"])
    assert message.subject == "[Model governance portal] Review requested: Credit risk v1"
    sign = f"https://governance.example.com/models/{version.model.slug}/versions/1/sign/"
    assert f"Review and sign: {sign}" in message.body
    assert "Risk tier: Medium risk." in message.body
    assert "Approvals still needed: 1." in message.body
    assert "Evidence: Tests queued (0 of 8 checks passed, run 1); warm-up queued." in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and f'href="{sign}"' in html
    assert message.extra_headers["List-Unsubscribe"] == "<https://governance.example.com/notifications/preferences/>"
    assert "https://governance.example.com/notifications/preferences/" in message.body


def test_text_people_wrote_is_escaped_in_the_html_part(
    credit_model, version, users, send_at_once, django_capture_on_commit_callbacks
):
    walk_to_review(version, users, django_capture_on_commit_callbacks)
    outbox.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        factories.step(version, "reject", users["carol"], annotation='<script>alert("x")</script> & more')

    message = outbox.outbox[0]
    assert message.to == ["alice@example.com"] and message.subject.endswith("Rejected: Credit risk v1")
    assert 'Reason: <script>alert("x")</script> & more' in message.body
    html = message.alternatives[0][0]
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html


def test_each_link_opens_the_right_page_for_its_recipient(
    version, users, oscar, send_at_once, django_capture_on_commit_callbacks
):
    walk_to_review(version, users, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        factories.step(version, "approve", users["carol"])

    checked = set()
    for notification in Notification.objects.select_related("recipient", "model", "version__model"):
        path = mail.compose(notification).path
        client = Client()
        client.force_login(notification.recipient)
        page = client.get(path)
        assert page.status_code == 200, (notification.event, notification.recipient.username, path)
        if notification.event == "review_requested":
            assert path.endswith("/sign/") and b'name="password"' in page.content
        else:
            assert path == version.get_absolute_url()
        checked.add((notification.event, notification.recipient.username))
        # Opened from the inbox: marked read, and on to the same page.
        opened = client.get(f"/notifications/{notification.pk}/")
        assert opened.status_code == 302 and opened["Location"] == path
        notification.refresh_from_db()
        assert notification.read_at is not None
    assert checked == {
        ("review_requested", "carol"), ("review_requested", "dave"), ("approved", "alice"), ("awaiting_promotion", "oscar"),
    }


def test_someone_who_switched_a_kind_off_gets_it_in_the_inbox_only(
    version_in, alice, send_at_once, django_capture_on_commit_callbacks
):
    services.email_preferences_set(actor=alice, user=alice, email_events=["approved"])
    with django_capture_on_commit_callbacks(execute=True):
        failed = version_in("tests_failed")
    notification = Notification.objects.get(version=failed, event="tests_failed")
    assert notification.recipient == alice and not notification.email_wanted and notification.email_status == "not by email"
    assert outbox.outbox == []


def test_each_email_sent_is_in_the_trail_without_its_body(version, users, send_at_once, django_capture_on_commit_callbacks):
    walk_to_review(version, users, django_capture_on_commit_callbacks)
    events = AuditEvent.objects.filter(action="notification.email_sent").order_by("seq")
    assert [event.details["recipient"] for event in events] == ["carol", "dave"]
    event = events.first()
    assert event.details["event"] == "review_requested" and event.details["address"] == "carol@example.com"
    assert event.model_slug == version.model.slug and event.version_number == 1
    assert event.actor_username == "mailer" and event.actor_kind == "agent"
    assert "Review and sign" not in str(event.data) + event.summary


def test_a_dead_mail_server_leaves_the_workflow_moving_records_the_failure_and_is_retried_later(
    version, users, settings, send_at_once, smtp_sink, django_capture_on_commit_callbacks
):
    from ..testsuites.conftest import free_port

    use_smtp(settings, free_port())  # nothing listens there

    reviewed = walk_to_review(version, users, django_capture_on_commit_callbacks)

    assert reviewed.state == "in_review"
    assert len(send_at_once) == 2 and all(outcome.startswith("failed: ConnectionRefusedError") for outcome in send_at_once)
    failed = Notification.objects.get(recipient=users["carol"], event="review_requested")
    assert failed.sent_at is None and failed.attempts == 1 and "ConnectionRefusedError" in failed.failure_reason
    assert failed.email_status == "failed (1 attempt)"
    failures = [event.details for event in AuditEvent.objects.filter(action="notification.email_failed")]
    assert sorted(details["recipient"] for details in failures) == ["carol", "dave"]
    assert all("ConnectionRefusedError" in details["reason"] for details in failures)
    # The workflow goes on while mail is down.
    with django_capture_on_commit_callbacks(execute=True):
        factories.step(reviewed, "approve", users["carol"])
    assert ModelVersion.objects.get(pk=version.pk).state == "approved"
    assert len(send_at_once) == 4 and "sent" not in send_at_once

    # The mail server is back; the recovery agent sends what failed once its wait is over.
    use_smtp(settings, smtp_sink.port)
    assert jobs.jobs_recover().data["emails_resent"] == []  # tried too recently
    Notification.objects.filter(sent_at__isnull=True).update(last_attempt_at=timezone.now() - timedelta(hours=1))
    recovered = jobs.jobs_recover()
    assert recovered.data["emails_resent"] == sorted(Notification.objects.values_list("pk", flat=True))
    assert "4 unsent email(s) queued again" in recovered.summary
    failed.refresh_from_db()
    assert failed.sent_at is not None and failed.attempts == 2 and failed.email_status == "sent"
    assert sorted(rcpt for m in smtp_sink.messages for rcpt in m["rcpt_tos"]) == [
        "alice@example.com", "carol@example.com", "dave@example.com", "oscar@example.com",
    ]
    sent = [event.details["recipient"] for event in AuditEvent.objects.filter(action="notification.email_sent")]
    assert sorted(sent) == ["alice", "carol", "dave", "oscar"]
    assert jobs.jobs_recover().data["emails_resent"] == []


def test_an_email_is_sent_once_however_often_it_is_delivered(version_in):
    failed = version_in("tests_failed")
    notification = Notification.objects.get(version=failed)
    assert mail.notification_email_send(notification_id=notification.pk) == "sent"
    assert mail.notification_email_send(notification_id=notification.pk) == "skipped"
    assert len(outbox.outbox) == 1


def test_a_delivery_waits_while_another_holds_the_email(version_in):
    failed = version_in("tests_failed")
    notification = Notification.objects.get(version=failed)
    Notification.objects.filter(pk=notification.pk).update(claimed_until=timezone.now() + timedelta(minutes=1))
    assert mail.notification_email_send(notification_id=notification.pk) == "skipped"
    assert outbox.outbox == []


def test_the_task_retries_a_failed_send_with_backoff(version_in, settings, monkeypatch):
    from celery.exceptions import Retry

    from ..testsuites.conftest import free_port
    from workflows.notifications import tasks

    use_smtp(settings, free_port())
    failed = version_in("tests_failed")
    notification = Notification.objects.get(version=failed)
    retried = {}

    def fake_retry(*, exc, countdown):
        retried.update(exc=exc, countdown=countdown)
        return Retry()

    monkeypatch.setattr(tasks.send_notification_email, "retry", fake_retry)
    with pytest.raises(Retry):
        tasks.send_notification_email.run(notification.pk)
    assert retried["countdown"] == 30 and isinstance(retried["exc"], mail.EmailNotSent)
    assert mail.retry_countdown(1) == 60 and mail.retry_countdown(10) == 240
