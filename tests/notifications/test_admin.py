"""The admin: failed emails visible and sent again; review service levels edited per tier."""

from __future__ import annotations

import pytest
from django.test import Client

from workflows.notifications import mail
from workflows.notifications.models import Notification, ReviewServiceLevel

from .conftest import use_smtp

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed(version_in, settings):
    from ..testsuites.conftest import free_port

    use_smtp(settings, free_port())
    version = version_in("tests_failed")
    notification = Notification.objects.get(version=version)
    with pytest.raises(mail.EmailNotSent):
        mail.notification_email_send(notification_id=notification.pk)
    return notification


def test_admins_see_failed_emails_and_send_them_again(failed, admin_user, settings, smtp_sink, send_at_once):
    client = client_for(admin_user)
    page = client.get("/admin/notifications/notification/?email=failed").content.decode()
    assert "ConnectionRefusedError" in page and "failed (1 attempt)" in page
    use_smtp(settings, smtp_sink.port)
    response = client.post(
        "/admin/notifications/notification/", {"action": "send_again", "_selected_action": [failed.pk]}
    )
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.sent_at is not None and send_at_once == ["sent"]
    assert smtp_sink.messages[0]["rcpt_tos"] == ["alice@example.com"]
    # Read-only otherwise.
    assert client.post(f"/admin/notifications/notification/{failed.pk}/change/", {"failure_reason": ""}).status_code == 403


def test_people_who_are_not_admins_see_no_notifications_in_the_admin(failed, carol, audrey):
    for user in (carol, audrey):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        assert client_for(user).get("/admin/notifications/notification/").status_code == 403


def test_admins_edit_review_service_levels_and_escalation_must_come_later(admin_user):
    level = ReviewServiceLevel.objects.get(risk_tier="critical")
    client = client_for(admin_user)
    url = f"/admin/notifications/reviewservicelevel/{level.pk}/change/"
    refused = client.post(url, {"risk_tier": "critical", "remind_after_hours": 10, "escalate_after_hours": 10})
    assert refused.status_code == 200 and "Escalation comes after the first reminder" in refused.content.decode()
    saved = client.post(url, {"risk_tier": "critical", "remind_after_hours": 8, "escalate_after_hours": 16})
    assert saved.status_code == 302
    level.refresh_from_db()
    assert (level.remind_after_hours, level.escalate_after_hours) == (8, 16)
