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


# --- Lifetimes: default expiry, password changes, never cached --------------------------------


def test_token_without_an_expiry_gets_the_default_one(alice, settings):
    settings.GOVERNANCE_TOKEN_DEFAULT_DAYS = 90
    token, _ = services.token_create(actor=alice, user=alice, label="ci")
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)
    settings.GOVERNANCE_TOKEN_DEFAULT_DAYS = 0  # switched off: no expiry
    token, _ = services.token_create(actor=alice, user=alice, label="forever")
    assert token.expires_at is None


def test_token_page_default_choice_is_the_default_expiry(alice, browser_for, settings):
    settings.GOVERNANCE_TOKEN_DEFAULT_DAYS = 90
    browser = browser_for(alice)
    assert "In 90 days (default)" in browser.get("/account/tokens/").content.decode()
    browser.post("/account/tokens/", {"label": "CI pipeline", "expires_in": ""})
    token = ApiToken.objects.get(user=alice, label="CI pipeline")
    assert timedelta(days=89) < token.expires_at - timezone.now() <= timedelta(days=90)


def test_token_page_is_never_cached(alice, browser_for):
    browser = browser_for(alice)
    response = browser.post("/account/tokens/", {"label": "CI pipeline"})
    assert response.context["secret"]
    assert "no-store" in response["Cache-Control"]
    assert "no-store" in browser.get("/account/tokens/")["Cache-Control"]


def test_changing_ones_password_revokes_ones_tokens(alice, credit_model, login_for):
    from tests.factories import PASSWORD

    token, raw = services.token_create(actor=alice, user=alice, label="ci")
    assert _client(raw).get("/api/v1/models/").status_code == 200
    browser = login_for(alice)
    response = browser.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "a-new-long-passphrase-42", "password2": "a-new-long-passphrase-42"},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert _client(raw).get("/api/v1/models/").status_code == 401
    from governance.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="token.revoked", object_id=str(token.pk), actor=alice).exists()


def test_password_reset_by_email_revokes_the_tokens(alice):
    from allauth.account.signals import password_reset
    from django.test import RequestFactory

    token, _ = services.token_create(actor=alice, user=alice, label="ci")
    password_reset.send(sender=type(alice), request=RequestFactory().post("/accounts/password/reset/key/"), user=alice)
    token.refresh_from_db()
    assert token.revoked_at is not None
