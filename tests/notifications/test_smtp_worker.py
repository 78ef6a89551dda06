"""End to end: a real Celery worker and a real SMTP server on loopback (aiosmtpd). A submitted
version is tested and warmed up by the worker; on reaching review, its reviewers' emails go
out through SMTP, read back here with their envelope recipients."""

from __future__ import annotations

import pytest

from governance.audit.models import AuditEvent
from governance.registry.models import ModelVersion
from workflows.lifecycle.services import version_transition
from workflows.notifications.models import Notification

from ..testsuites.conftest import FAST_JOB_SETTINGS, in_thread_worker, purge, use_broker, wait_for, TEST_REDIS_URL
from .conftest import use_smtp

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def celery_worker(transactional_db, settings):
    for name, value in FAST_JOB_SETTINGS.items():
        setattr(settings, name, value)
    use_broker(TEST_REDIS_URL)
    purge()
    with in_thread_worker() as worker:
        yield worker


def test_reviewers_get_their_emails_through_smtp_from_a_real_worker(settings, smtp_sink, celery_worker, version, alice):
    use_smtp(settings, smtp_sink.port)
    settings.DEFAULT_FROM_EMAIL = "governance@example.com"

    version_transition(version=version, name="submit", actor=alice)

    wait_for(lambda: ModelVersion.objects.get(pk=version.pk).state == "in_review", timeout=90, message="review")
    wait_for(lambda: len(smtp_sink.messages) == 2, timeout=30, message="two emails through SMTP")
    by_recipient = {tuple(received["rcpt_tos"]): received for received in smtp_sink.messages}
    assert set(by_recipient) == {("carol@example.com",), ("dave@example.com",)}
    received = by_recipient[("carol@example.com",)]
    assert received["mail_from"] == "governance@example.com"
    message = received["message"]
    assert message["Subject"] == "[Model governance portal] Review requested: Credit risk v1"
    assert message["To"] == "carol@example.com"
    assert message["List-Unsubscribe"] == "<https://governance.example.com/notifications/preferences/>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Evidence: Tests passed (8 of 8 checks passed, run 1); warm-up passed on 143 rows of validation data" in text
    assert f"https://governance.example.com/models/{version.model.slug}/versions/1/sign/" in html
    wait_for(
        lambda: Notification.objects.filter(event="review_requested", sent_at__isnull=False).count() == 2,
        timeout=10, message="both notifications marked sent",
    )
    assert sorted(AuditEvent.objects.filter(action="notification.email_sent").values_list("summary", flat=True)) == [
        "Emailed carol: A version waits for your sign-off.", "Emailed dave: A version waits for your sign-off.",
    ]
