"""The one-time code at signing: always asked with GOVERNANCE_SIGNING_REQUIRES_MFA (production's
default), else only of signers who have MFA."""

import time

import pytest
from allauth.mfa import app_settings
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.urls import reverse

from tests.factories import PASSWORD
from workflows.lifecycle.models import SignOff

pytestmark = pytest.mark.django_db


def sign(client, version, **extra):
    body = {"decision": "approve", "annotation": "Read the evidence.", "password": PASSWORD, **extra}
    return client.post(f"/api/v1/models/{version.model.slug}/versions/{version.number}/signoffs/", body, format="json")


def sign_page(version):
    return reverse("lifecycle:sign", kwargs={"slug": version.model.slug, "number": version.number})


def current_code(secret):
    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))


@pytest.fixture
def signing_requires_mfa(settings):
    settings.GOVERNANCE_SIGNING_REQUIRES_MFA = True


def test_with_mfa_required_a_signer_without_an_authenticator_is_refused(signing_requires_mfa, in_review, carol, api_for):
    response = sign(api_for(carol), in_review)

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "mfa_required"
    assert "set up two-factor authentication first" in body["detail"] and reverse("mfa_index") in body["detail"]
    assert not SignOff.objects.exists()


def test_with_mfa_required_a_valid_code_signs(signing_requires_mfa, in_review, carol, api_for):
    secret = generate_totp_secret()
    TOTP.activate(carol, secret)
    client = api_for(carol)
    assert sign(client, in_review).json()["code"] == "otp_required"

    response = sign(client, in_review, otp=current_code(secret))

    assert response.status_code == 201, response.json()
    assert response.json()["with_mfa"] is True


def test_with_mfa_required_the_form_always_asks_for_the_code_and_says_how_to_get_one(
    signing_requires_mfa, in_review, carol, client
):
    client.force_login(carol)
    html = client.get(sign_page(in_review)).content.decode()
    assert 'name="otp"' in html
    assert f'<a href="{reverse("mfa_index")}">set up two-factor authentication</a>' in html

    form = {"decision": "approve", "annotation": "Read it.", "password": PASSWORD, "otp": "123456", "evidence_reviewed": "on"}
    response = client.post(sign_page(in_review), form)

    assert response.status_code == 403
    assert "set up two-factor authentication first" in response.content.decode()
    assert not SignOff.objects.exists()


def test_without_the_setting_a_signer_without_mfa_signs_with_the_password(in_review, carol, api_for, client, settings):
    settings.GOVERNANCE_SIGNING_REQUIRES_MFA = False
    client.force_login(carol)
    html = client.get(sign_page(in_review)).content.decode()
    assert 'name="otp"' not in html and "set up two-factor authentication" not in html

    response = sign(api_for(carol), in_review)

    assert response.status_code == 201 and response.json()["with_mfa"] is False
