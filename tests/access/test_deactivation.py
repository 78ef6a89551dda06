"""Deactivating a user takes effect on their very next request, and deletes nothing."""

import pytest
from auditlog.models import LogEntry
from django.contrib.sessions.models import Session

from governance.audit.models import AuditEvent
from governance.access import services
from governance.access.models import ApiToken
from governance.registry.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_deactivated_user_is_refused_in_browser_and_api_on_next_request(
    shared_model, victor, admin_user, browser_for, api_for
):
    browser = browser_for(victor)
    api = api_for(victor)
    assert browser.get("/account/tokens/").status_code == 200
    assert api.get("/api/v1/models/credit-risk/").status_code == 200
    assert browser.get("/api/v1/models/credit-risk/").status_code == 200  # the session works for the API too

    response = api_for(admin_user).post("/api/v1/users/victor/deactivate/")
    assert response.status_code == 200

    page = browser.get("/account/tokens/")
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]
    assert browser.get("/api/v1/models/credit-risk/").status_code in (401, 403)
    refused = api.get("/api/v1/models/credit-risk/")
    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"


def test_deactivation_deletes_the_users_sessions_only(shared_model, victor, alice, admin_user, browser_for):
    browser_for(victor)
    browser_for(alice)
    assert Session.objects.count() == 2
    services.user_deactivate(actor=admin_user, user=victor)
    remaining = [session.get_decoded().get("_auth_user_id") for session in Session.objects.all()]
    assert remaining == [str(alice.pk)]


def test_a_surviving_session_is_refused_too(shared_model, victor, browser_for):
    """Even if a session escaped deletion (another store, a race), the inactive user is refused."""
    browser = browser_for(victor)
    victor.is_active = False
    victor.save(update_fields=["is_active"])
    response = browser.get("/account/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_deactivation_keeps_everything_the_user_did(version, alice, admin_user):
    tokens_before = ApiToken.objects.filter(user=alice).count()
    services.token_create(actor=alice, user=alice, label="ci")
    services.user_deactivate(actor=admin_user, user=alice)
    alice.refresh_from_db()
    assert not alice.is_active
    version = ModelVersion.objects.get(pk=version.pk)  # protected state: re-read, no refresh
    assert version.submitted_by == alice
    assert version.model.created_by == alice
    assert version.model.grants.filter(user=alice, role="owner").exists()
    # Tokens are kept (revoked, not deleted: the record of them stays).
    assert ApiToken.objects.filter(user=alice).count() == tokens_before + 1
    assert not ApiToken.objects.filter(user=alice, revoked_at__isnull=True).exists()
    assert ApiToken.objects.usable().filter(user=alice).count() == 0
    # One entry records the deactivation, with the admin as its actor.
    events = AuditEvent.objects.filter(object_type="access.user", object_id=str(alice.pk), action="user.deactivated")
    assert [event.actor_username for event in events] == ["admin"]
    assert not LogEntry.objects.get_for_object(alice).filter(changes__icontains="is_active").exists()


def test_deactivated_user_cannot_sign_in(victor, admin_user, client):
    from tests.factories import PASSWORD

    services.user_deactivate(actor=admin_user, user=victor)
    response = client.post("/accounts/login/", {"login": "victor", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert "inactive" in response["Location"]


def test_deactivation_revokes_tokens_so_reactivation_does_not_revive_them(alice, admin_user):
    from rest_framework.test import APIClient

    from governance.audit.models import AuditEvent

    _, raw = services.token_create(actor=alice, user=alice, label="ci")
    _, raw_other = services.token_create(actor=alice, user=alice, label="laptop")
    already = ApiToken.objects.get(label="laptop")
    services.token_revoke(actor=alice, token=already)
    first_revocation = ApiToken.objects.get(pk=already.pk).revoked_at

    services.user_deactivate(actor=admin_user, user=alice)
    tokens = {token.label: token for token in ApiToken.objects.filter(user=alice)}
    assert tokens["ci"].revoked_at is not None
    assert tokens["laptop"].revoked_at == first_revocation  # a revoked token keeps its first time
    # Each revocation is in the trail, with the admin who deactivated the account as its actor.
    revoked = AuditEvent.objects.filter(action="token.revoked", object_id=str(tokens["ci"].pk))
    assert [event.actor_username for event in revoked] == [admin_user.username]

    # Switched back on, the person signs in again, but the old credentials stay dead.
    services.user_reactivate(actor=admin_user, user=alice)
    assert AuditEvent.objects.filter(action="user.reactivated", actor_username="admin").count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/models/").status_code == 401
