"""``manage.py create_api_token``: prints only a working token; refuses unknown or inactive users."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from governance.access.models import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def create_token(*args) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_prints_only_a_working_token(alice, credit_model):
    output = create_token("alice", "--label", "CI pipeline")
    lines = output.splitlines()
    assert len(lines) == 1 and output.endswith("\n")
    raw = lines[0]
    assert raw.startswith(ApiToken.PREFIX)
    token = ApiToken.objects.get(user=alice)
    assert token.label == "CI pipeline"
    # No --expires-days: the default expiry (GOVERNANCE_TOKEN_DEFAULT_DAYS, 90 days).
    assert abs(token.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    assert raw not in token.key_hash  # only the hash is stored

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/models/")
    assert response.status_code == 200
    assert [model["slug"] for model in response.json()["results"]] == [credit_model.slug]


def test_expires_days_sets_the_expiry(alice):
    create_token("alice", "--expires-days", "30")
    expires_at = ApiToken.objects.get(user=alice).expires_at
    assert abs(expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


@pytest.mark.parametrize("days", ["0", "-3"])
def test_expires_days_must_be_positive(alice, days):
    with pytest.raises(CommandError, match="expires-days"):
        create_token("alice", "--expires-days", days)
    assert not ApiToken.objects.exists()


def test_unknown_user_is_refused_with_a_clear_message(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        create_token("nobody")
    assert not ApiToken.objects.exists()


def test_inactive_user_is_refused(db):
    factories.make_user("gone", "data_scientist", is_active=False)
    with pytest.raises(CommandError, match="deactivated"):
        create_token("gone")
    assert not ApiToken.objects.exists()


def test_service_account_gets_a_token(db):
    from governance.access.services import service_account_get

    service_account_get("ci-pipeline")
    raw = create_token("ci-pipeline").strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/models/").status_code == 200
