"""Signing in: MFA enrolment (and MFA required for some roles), rate limits, company SSO."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import RequestFactory

from governance.access.adapters import SocialAccountAdapter
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ENROL = "/accounts/2fa/totp/activate/"


def _reauthenticate(browser):
    """allauth asks for the password again before MFA can be changed."""
    response = browser.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def test_mfa_enrolment_pages_render_inside_the_portal(alice, login_for):
    browser = login_for(alice)
    assert browser.get(ENROL)["Location"].startswith("/accounts/reauthenticate/")
    _reauthenticate(browser)
    page = browser.get(ENROL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="topbar"' in html and "portal.css" in html  # the portal's layout
    assert "otpauth://" in html or "secret" in html.lower()
    index = browser.get("/accounts/2fa/")
    assert index.status_code == 200 and 'class="topbar"' in index.content.decode()


def test_enrolling_totp_creates_recovery_codes(alice, login_for):
    browser = login_for(alice)
    _reauthenticate(browser)
    browser.get(ENROL)
    secret = browser.session["mfa.totp.secret"]
    from allauth.mfa.totp.internal.auth import hotp_value, yield_hotp_counters_from_time

    code = format(hotp_value(secret, next(yield_hotp_counters_from_time())), "06d")
    response = browser.post(ENROL, {"code": code})
    assert response.status_code == 302, response.content.decode()[:500]
    types = set(Authenticator.objects.filter(user=alice).values_list("type", flat=True))
    assert Authenticator.Type.TOTP in types and Authenticator.Type.RECOVERY_CODES in types


@pytest.mark.parametrize("who", ["carol", "oscar", "admin_user"])
def test_mfa_required_sends_validators_operators_and_admins_to_enrol(who, request, settings, login_for):
    settings.GOVERNANCE_MFA_REQUIRED = True
    user = request.getfixturevalue(who)
    browser = login_for(user)
    response = browser.get("/account/tokens/")
    assert response.status_code == 302 and response["Location"] == ENROL
    assert browser.get("/admin/").status_code == 302
    api = browser.get("/api/v1/models/")
    assert api.status_code == 403 and api.json()["code"] == "mfa_required"
    # The way to enrol stays open: the password check, then the enrolment page.
    _reauthenticate(browser)
    assert browser.get(ENROL).status_code == 200


def test_mfa_required_lets_enrolled_users_and_other_roles_through(carol, alice, settings, browser_for):
    settings.GOVERNANCE_MFA_REQUIRED = True
    assert browser_for(alice).get("/account/tokens/").status_code == 200  # data scientists may choose
    TOTP.activate(carol, generate_totp_secret())
    assert browser_for(carol).get("/account/tokens/").status_code == 200


def test_mfa_not_required_when_setting_is_off(carol, settings, browser_for):
    settings.GOVERNANCE_MFA_REQUIRED = False
    assert browser_for(carol).get("/account/tokens/").status_code == 200


def test_mfa_requirement_does_not_touch_bearer_tokens(carol, credit_model, settings, api_for):
    settings.GOVERNANCE_MFA_REQUIRED = True
    assert api_for(carol).get("/api/v1/models/").status_code == 200


def test_repeated_failed_logins_are_refused(alice, client):
    for _ in range(5):
        response = client.post("/accounts/login/", {"login": "alice", "password": "wrong password"})
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
    # Even the right password is refused now, until the window passes.
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()


def test_login_works_with_the_right_password(alice, client):
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


OIDC = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": "acme",
                "name": "Acme directory",
                "client_id": "portal",
                "secret": "s3cret",
                "settings": {"server_url": "https://login.acme.example/realms/staff"},
            }
        ]
    }
}


def test_login_page_offers_the_company_directory_when_configured(client, settings, db):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert "Acme directory" not in client.get("/accounts/login/").content.decode()
    settings.SOCIALACCOUNT_PROVIDERS = OIDC
    html = client.get("/accounts/login/").content.decode()
    assert "Acme directory" in html
    assert "/accounts/oidc/acme/login/" in html


def _directory_login(email: str):
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount, SocialLogin

    from governance.access.models import User

    return SocialLogin(
        user=User(username="", email=email),
        account=SocialAccount(provider="acme", uid=f"uid-{email}", extra_data={"email": email}),
        email_addresses=[EmailAddress(email=email, verified=True, primary=True)],
    )


def _request(user=None):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.db import SessionStore

    request = RequestFactory().get("/accounts/oidc/acme/login/callback/")
    request.session = SessionStore()
    request.user = user or AnonymousUser()
    return request


def test_directory_sign_in_lands_on_the_account_an_admin_made(alice, settings):
    settings.SOCIALACCOUNT_PROVIDERS = OIDC
    sociallogin = _directory_login("Alice@Example.com")
    SocialAccountAdapter().pre_social_login(_request(), sociallogin)
    assert sociallogin.is_existing
    assert sociallogin.user == alice
    assert alice.socialaccount_set.filter(provider="acme").exists()


def test_directory_sign_in_without_an_account_gets_none(alice, eve, settings):
    from governance.access.adapters import directory_account_for

    settings.SOCIALACCOUNT_PROVIDERS = OIDC
    stranger = _directory_login("mallory@example.com")
    SocialAccountAdapter().pre_social_login(_request(), stranger)
    assert not stranger.is_existing
    assert not SocialAccountAdapter().is_open_for_signup(_request(), stranger)
    # Deactivated people and ambiguous addresses are never matched.
    eve.is_active = False
    eve.save(update_fields=["is_active"])
    assert directory_account_for(_directory_login("eve@example.com")) is None
    from tests.factories import make_user

    make_user("alice2", email="ALICE@example.com")
    assert directory_account_for(_directory_login("alice@example.com")) is None


# --- The admin site signs in through allauth only --------------------------------------------


def test_admin_login_form_does_not_sign_in_a_user_with_totp(admin_user, client, settings):
    settings.GOVERNANCE_MFA_REQUIRED = True
    TOTP.activate(admin_user, generate_totp_secret())
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    # The portal's sign-in asks for the second factor before anything opens.
    response = client.post("/accounts/login/", {"login": "admin", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    assert client.get("/api/v1/models/").status_code == 401


def test_admin_login_sends_people_to_the_portal_sign_in(admin_user, client):
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "_auth_user_id" not in client.session
    # Signing in there opens the admin site.
    assert client.post(response["Location"], {"login": "admin", "password": PASSWORD}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_dozen_wrong_admin_passwords_lock_the_account_out(admin_user, client):
    for _ in range(12):
        client.post("/admin/login/", {"username": "admin", "password": "wrong password"})
        client.post("/accounts/login/", {"login": "admin", "password": "wrong password"})
        assert "_auth_user_id" not in client.session
    response = client.post("/accounts/login/", {"login": "admin", "password": PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    client.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert "_auth_user_id" not in client.session


# --- Idle sessions and clients behind a proxy ------------------------------------------------


def _last_seen(browser, seconds_ago):
    import time

    from governance.access.middleware import IdleSessionMiddleware

    session = browser.session
    session[IdleSessionMiddleware.LAST_SEEN] = int(time.time()) - seconds_ago
    session.save()


def test_a_session_unused_past_the_idle_timeout_is_signed_out(alice, browser_for, settings):
    from governance.audit.models import AuditEvent

    settings.GOVERNANCE_SESSION_IDLE_MINUTES = 30
    browser = browser_for(alice)
    assert browser.get("/account/tokens/").status_code == 200
    _last_seen(browser, 29 * 60)
    assert browser.get("/account/tokens/").status_code == 200  # still in use: the clock restarts
    _last_seen(browser, 31 * 60)
    response = browser.get("/account/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in browser.session
    assert browser.get("/api/v1/models/").status_code in (401, 403)
    assert AuditEvent.objects.filter(action="login.signed_out", actor=alice).exists()


def test_clients_behind_one_trusted_proxy_have_their_own_rate_limit(alice, settings):
    from django.test import Client

    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # what GOVERNANCE_TRUSTED_PROXIES=1 sets
    attacker = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    for number in range(12):
        attacker.post("/accounts/login/", {"login": f"guess{number}", "password": "wrong password"})
    response = attacker.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert "Too many failed login attempts" in response.content.decode()
    # The same proxy, another client: not locked out by the attacker's attempts.
    assert colleague.post("/accounts/login/", {"login": "alice", "password": PASSWORD}).status_code == 302
    assert colleague.session["_auth_user_id"] == str(alice.pk)


# --- Company sign-in links on verified addresses only -----------------------------------------


def _provider_login(claims: dict):
    """The sociallogin allauth's OpenID Connect provider makes from the directory's claims."""
    from allauth.socialaccount.adapter import get_adapter

    request = _request()
    provider = get_adapter().get_provider(request, "acme")
    return request, provider.sociallogin_from_response(request, {"userinfo": {"sub": "u-1", **claims}})


@pytest.mark.parametrize("claim", [False, "false", None, "yes"])
def test_directory_sign_in_with_an_unverified_email_is_refused(alice, settings, claim):
    from allauth.core.exceptions import ImmediateHttpResponse

    settings.SOCIALACCOUNT_PROVIDERS = OIDC
    claims = {"email": "alice@example.com", "email_verified": claim}
    if claim is None:
        del claims["email_verified"]  # no claim at all: not verified either
    request, sociallogin = _provider_login(claims)
    with pytest.raises(ImmediateHttpResponse) as refused:
        SocialAccountAdapter().pre_social_login(request, sociallogin)
    assert refused.value.response.status_code == 302
    assert refused.value.response["Location"] == "/accounts/login/"
    assert not sociallogin.is_existing
    assert not alice.socialaccount_set.exists()


def test_directory_sign_in_with_a_verified_email_is_linked(alice, settings):
    settings.SOCIALACCOUNT_PROVIDERS = OIDC
    request, sociallogin = _provider_login({"email": "alice@example.com", "email_verified": True})
    SocialAccountAdapter().pre_social_login(request, sociallogin)
    assert sociallogin.is_existing and sociallogin.user == alice


def test_unverified_directory_sign_in_shows_why_it_was_refused(alice, settings, client):
    from allauth.socialaccount.internal.flows.login import complete_login
    from django.contrib.messages import get_messages
    from django.contrib.messages.storage.fallback import FallbackStorage

    from governance.access.adapters import UNVERIFIED_EMAIL_MESSAGE

    settings.SOCIALACCOUNT_PROVIDERS = OIDC
    request, sociallogin = _provider_login({"email": "alice@example.com", "email_verified": False})
    request._messages = FallbackStorage(request)
    from allauth.core import context

    with context.request_context(request):
        response = complete_login(request, sociallogin)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert [str(message) for message in get_messages(request)] == [UNVERIFIED_EMAIL_MESSAGE]
    assert not alice.socialaccount_set.exists()
