"""Refused authentication is in the audit trail: bad API tokens, wrong one-time codes at sign-in,
the sign-in lockout; rate limited per source and reason so a flood cannot fill the trail.
(Wrong signing passwords and the signing lockout: tests/lifecycle/test_api.py.)"""

from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, hotp_value, yield_hotp_counters_from_time
from django.utils import timezone
from rest_framework.test import APIClient

from governance.access import services
from governance.access.models import ApiToken
from governance.audit.models import AuditEvent, EventKind
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _api(raw, address="203.0.113.9"):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _refusals(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_unknown_api_token_is_recorded_without_its_secret(credit_model):
    raw = "gov_" + "x" * 40
    response = _api(raw).get("/api/v1/models/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid, expired or revoked token."  # the answer is unchanged
    [event] = _refusals("api.token_refused")
    assert event.kind == EventKind.ACCESS and event.actor_id is None
    assert event.remote_addr == "203.0.113.9"
    assert event.details["reason"] == "unknown_token" and event.details["source"] == "203.0.113.9"
    assert "xxxxxxxx" not in event.data and "xxxxxxxx" not in event.summary


@pytest.mark.parametrize("why", ["revoked_token", "expired_token", "inactive_user"])
def test_a_token_that_no_longer_works_is_recorded_with_its_owner_and_why(alice, credit_model, why):
    token, raw = services.token_create(actor=alice, user=alice, label="ci")
    if why == "revoked_token":
        services.token_revoke(actor=alice, token=token)
    elif why == "expired_token":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        alice.is_active = False
        alice.save(update_fields=["is_active"])
    assert _api(raw).get("/api/v1/models/").status_code == 401
    [event] = _refusals("api.token_refused")
    assert event.details["reason"] == why
    assert event.details["token_id"] == token.pk and event.details["username_tried"] == "alice"
    assert event.object_id == str(alice.pk)


def test_malformed_bearer_header_is_recorded(credit_model):
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    assert client.get("/api/v1/models/").status_code == 401
    assert [e.details["reason"] for e in _refusals("api.token_refused")] == ["malformed_header"]


def test_a_flood_of_bad_tokens_is_recorded_up_to_the_limit_per_source(credit_model, settings, monkeypatch):
    import governance.access.auth_failures as auth_failures

    settings.GOVERNANCE_AUTH_FAILURE_AUDIT_LIMIT = 3
    now = [1_800_000_000.0]
    monkeypatch.setattr(auth_failures.time, "time", lambda: now[0])
    for number in range(8):
        assert _api(f"gov_bad{number}").get("/api/v1/models/").status_code == 401
    events = _refusals("api.token_refused")
    assert len(events) == 3
    assert events[-1].details["limit_reached"] is True and "counted, not recorded" in events[-1].summary
    # Another source has its own allowance.
    assert _api("gov_other", address="198.51.100.7").get("/api/v1/models/").status_code == 401
    assert len(_refusals("api.token_refused")) == 4
    # The next minute, the first one recorded says how many were left out.
    now[0] += 60
    _api("gov_again").get("/api/v1/models/")
    last = _refusals("api.token_refused")[-1]
    assert last.details["not_recorded_before"] == 5 and "5 earlier refusal(s)" in last.summary
    _api("gov_again").get("/api/v1/models/")
    assert "not_recorded_before" not in _refusals("api.token_refused")[-1].details


def test_wrong_one_time_code_at_sign_in_is_recorded(carol, client):
    secret = generate_totp_secret()
    TOTP.activate(carol, secret)
    response = client.post("/accounts/login/", {"login": "carol", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9")
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    right = format(hotp_value(secret, next(yield_hotp_counters_from_time())), "06d")
    wrong = "000000" if right != "000000" else "111111"
    response = client.post("/accounts/2fa/authenticate/", {"code": wrong}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    [event] = _refusals("login.mfa_failed")
    assert event.kind == EventKind.ACCESS and event.actor_id is None
    assert event.object_id == str(carol.pk) and event.details["username_tried"] == "carol"
    assert event.details["reason"] == "wrong_code" and event.remote_addr == "203.0.113.9"


def test_sign_in_lockout_is_recorded(alice, client):
    for _ in range(7):
        client.post("/accounts/login/", {"login": "alice", "password": "wrong password"})
    events = _refusals("login.locked")
    assert events and events[0].details["username_tried"] == "alice"
    assert events[0].details["reason"] == "too_many_attempts"
