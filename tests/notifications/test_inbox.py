"""The inbox, the unread count in the header, marking read, and the email preferences page."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.audit.models import AuditEvent
from governance.errors import ActionError, ActionForbidden
from workflows.notifications import services
from workflows.notifications.models import EmailPreference, Notification

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reviewed(version_in):
    """A version in review: carol and dave are asked to sign it."""
    return version_in("in_review")


def test_inbox_lists_my_notifications_with_the_unread_count_in_the_header(reviewed, carol, eve):
    page = client_for(carol).get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Credit risk v1 is in review and waits for your sign-off." in html
    assert '<span class="unread-count" title="Unread notifications">1</span>' in html
    assert f'href="/notifications/{Notification.objects.get(recipient=carol).pk}/"' in html
    # Someone told of nothing sees an empty inbox, and no count.
    empty = client_for(eve).get("/models/").content.decode()
    assert "Inbox" in empty and "unread-count" not in empty


def test_mark_one_read_and_mark_all_read(reviewed, version_in, carol):
    mine = Notification.objects.get(recipient=carol)
    client = client_for(carol)
    assert client.post(f"/notifications/{mine.pk}/read/").status_code == 302
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert "unread-count" not in client.get("/notifications/").content.decode()
    version_in("in_review")
    assert Notification.objects.filter(recipient=carol, read_at__isnull=True).count() == 1
    client.post("/notifications/read-all/")
    assert Notification.objects.filter(recipient=carol, read_at__isnull=True).count() == 0


def test_nobody_opens_or_marks_anyone_elses_notification(reviewed, carol, dave, eve):
    carols = Notification.objects.get(recipient=carol)
    for user in (dave, eve):
        client = client_for(user)
        assert client.get(f"/notifications/{carols.pk}/").status_code == 404
        assert client.post(f"/notifications/{carols.pk}/read/").status_code == 404
    carols.refresh_from_db()
    assert carols.read_at is None
    with pytest.raises(ActionForbidden):
        services.notification_mark_read(actor=dave, notification=carols)
    assert Client().get("/notifications/").status_code == 302  # to the sign-in page


def test_preferences_page_switches_a_kind_off_and_is_audited(alice):
    client = client_for(alice)
    page = client.get("/notifications/preferences/").content.decode()
    assert 'value="approved" checked' in page and "disabled" not in page
    everything_but_approved = [
        value for value in ("tests_failed", "warmup_failed", "rejected", "changes_requested", "withdrawn")
    ]
    response = client.post("/notifications/preferences/", {"email": everything_but_approved})
    assert response.status_code == 302
    assert EmailPreference.objects.get(user=alice, event="approved").email is False
    assert EmailPreference.objects.get(user=alice, event="tests_failed").email is True
    assert 'value="approved">' in client.get("/notifications/preferences/").content.decode()
    event = AuditEvent.objects.get(action="notifications.preferences_changed")
    assert event.actor_username == "alice" and "approved" in event.details["email_off"]


def test_a_reviewer_cannot_switch_review_requests_off(credit_model, carol, eve):
    with pytest.raises(ActionError, match="reviewer grant"):
        services.email_preferences_set(actor=carol, user=carol, email_events=[])
    page = client_for(carol).get("/notifications/preferences/").content.decode()
    assert 'value="review_requested" checked disabled' in page
    # Posting without it keeps it on.
    client_for(carol).post("/notifications/preferences/", {"email": []})
    assert not EmailPreference.objects.filter(user=carol, event="review_requested", email=False).exists()
    assert EmailPreference.objects.get(user=carol, event="approved").email is False
    # Someone without a reviewer grant may switch them off; nobody sets another person's.
    services.email_preferences_set(actor=eve, user=eve, email_events=[])
    with pytest.raises(ActionForbidden):
        services.email_preferences_set(actor=eve, user=carol, email_events=[])


def test_an_unknown_kind_is_refused_with_a_clear_error(alice):
    response = client_for(alice).post("/notifications/preferences/", {"email": ["approved", "gossip"]})
    assert response.status_code == 400 and "Unknown kind of event: gossip." in response.content.decode()
    assert not EmailPreference.objects.filter(user=alice).exists()


def test_the_api_lists_only_my_notifications_and_marks_them_read(reviewed, carol, dave, eve, api_for):
    carols = Notification.objects.get(recipient=carol)
    listed = api_for(carol).get("/api/v1/notifications/?unread=true").json()
    assert listed["count"] == 1
    (item,) = listed["results"]
    assert item["id"] == carols.pk and item["event"] == "review_requested" and item["version"] == 1
    assert item["model"] == reviewed.model.slug and item["read_at"] is None
    assert item["subject"] == "Review requested: Credit risk v1"
    assert item["link"] == f"https://governance.example.com/models/{reviewed.model.slug}/versions/1/sign/"
    assert item["message"].startswith("Credit risk v1 is in review and waits for your sign-off. Risk tier:")
    assert api_for(eve).get("/api/v1/notifications/").json()["count"] == 0
    assert api_for(eve).post(f"/api/v1/notifications/{carols.pk}/read/").status_code == 404
    read = api_for(carol).post(f"/api/v1/notifications/{carols.pk}/read/")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert api_for(carol).get("/api/v1/notifications/?unread=true").json()["count"] == 0
    assert api_for(dave).post("/api/v1/notifications/read-all/").json() == {"marked_read": 1}
    assert APIClientWithoutToken().get("/api/v1/notifications/").status_code == 401


def APIClientWithoutToken():
    from rest_framework.test import APIClient

    return APIClient()
