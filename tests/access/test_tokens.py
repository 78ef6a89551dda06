"""API tokens: hashed at rest, expiry, revocation, last-used time, and the settings page."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from governance.access import services
from governance.access.models import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def _client(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_token_is_stored_hashed(alice):
    token, raw = services.token_create(actor=alice, user=alice, label="ci")
    stored = ApiToken.objects.filter(pk=token.pk).values()[0]
    assert raw not in [str(value) for value in stored.values()]
    assert stored["key_hash"] == hash_token(raw)
    assert raw.startswith(stored["key_prefix"]) and len(stored["key_prefix"]) < len(raw)


def test_usable_token_authenticates_and_records_last_use(credit_model, alice):
    token, raw = services.token_create(actor=alice, user=alice, label="ci")
    assert token.last_used_at is None
    assert _client(raw).get("/api/v1/models/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None and timezone.now() - token.last_used_at < timedelta(seconds=10)


def test_expired_token_is_refused(credit_model, alice):
    token, raw = services.token_create(actor=alice, user=alice, label="ci", expires_at=timezone.now() + timedelta(hours=1))
    assert _client(raw).get("/api/v1/models/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(raw).get("/api/v1/models/").status_code == 401


def test_expiry_in_the_past_is_refused_at_creation(alice):
    from governance.errors import ActionError

    with pytest.raises(ActionError):
        services.token_create(actor=alice, user=alice, label="ci", expires_at=timezone.now() - timedelta(days=1))


def test_revoked_token_is_refused_on_the_next_request(credit_model, alice):
    token, raw = services.token_create(actor=alice, user=alice, label="ci")
    client = _client(raw)
    assert client.get("/api/v1/models/").status_code == 200
    services.token_revoke(actor=alice, token=token)
    assert client.get("/api/v1/models/").status_code == 401
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    services.token_revoke(actor=alice, token=token)  # revoking again keeps the first time
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first


def test_token_of_inactive_user_is_refused(credit_model, alice):
    _, raw = services.token_create(actor=alice, user=alice, label="ci")
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert _client(raw).get("/api/v1/models/").status_code == 401


def test_token_page_creates_shows_secret_once_and_revokes(alice, browser_for):
    browser = browser_for(alice)
    response = browser.post("/account/tokens/", {"label": "CI pipeline", "expires_in": "30"})
    assert response.status_code == 200
    raw = response.context["secret"]
    assert raw and raw in response.content.decode()
    token = ApiToken.objects.get(user=alice, label="CI pipeline")
    assert token.key_hash == hash_token(raw)
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)

    listing = browser.get("/account/tokens/").content.decode()
    assert "CI pipeline" in listing and token.key_prefix in listing
    assert raw not in listing  # never shown again

    response = browser.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert _client(raw).get("/api/v1/models/").status_code == 401


def test_token_page_needs_a_label(alice, browser_for):
    response = browser_for(alice).post("/account/tokens/", {"label": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=alice).exists()


def test_someone_elses_token_is_404(alice, eve, browser_for):
    token, _ = services.token_create(actor=alice, user=alice, label="mine")
    response = browser_for(eve).post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert "mine" not in browser_for(eve).get("/account/tokens/").content.decode()


def test_token_pages_need_sign_in(client, db):
    response = client.get("/account/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
