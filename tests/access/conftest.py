"""Fixtures of the access tests: a viewer, browser clients, fast hashing, a fresh cache."""

import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def victor(db):
    """A data scientist with only the viewer grant on credit_model (see shared_model)."""
    return factories.make_user("victor", "data_scientist")


@pytest.fixture
def shared_model(credit_model, victor, alice):
    factories.grant(model=credit_model, user=victor, role="viewer", granted_by=alice)
    return credit_model


@pytest.fixture
def browser_for():
    """browser_for(user) -> a Django test client signed in as that user (a real session)."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The named users each hash a password; PBKDF2 at full strength costs most of a test's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # allauth keeps login rate-limit counters in the cache; tests must not share them.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def login_for():
    """login_for(user) -> a test client signed in through the real sign-in form (allauth)."""
    from tests.factories import PASSWORD

    def make(user):
        client = Client()
        response = client.post("/accounts/login/", {"login": user.username, "password": PASSWORD})
        assert response.status_code == 302, response.content.decode()[:500]
        return client

    return make
