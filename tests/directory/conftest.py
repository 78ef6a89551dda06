"""Fixtures of the directory tests: a SCIM token, and a SCIM client (scim2-client) that calls the
portal's WSGI application in process, the way an identity provider calls /scim/v2/."""

import pytest
from django.core.wsgi import get_wsgi_application
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_models import Group, ScimProvider, User

from governance.access.services import console_actor
from governance.directory.services import scim_token_create

BASE_URL = "http://testserver/scim/v2"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Refusals are counted in the cache (auth_failures); tests must not share the counts.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def scim_token(db):
    """(token, raw secret) of a SCIM token, made as the console makes it."""
    return scim_token_create(actor=console_actor(), label="Entra ID (tests)")


def portal_app(environ, start_response):
    """The portal's WSGI application, keeping the test's database connection open.

    Django closes the connection when a request starts and ends; the test's transaction lives on
    it, so these calls keep it, as Django's own test client does. The response is read and closed
    (which ends the request) before the signal is connected again.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = get_wsgi_application()(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def make_scim_client(raw: str | None) -> WSGISCIMClient:
    headers = {"Authorization": f"Bearer {raw}"} if raw is not None else {}
    client = WSGISCIMClient(
        portal_app,
        base_url=BASE_URL,
        headers=headers,
        provider=ScimProvider(models=[User, Group]),
    )
    return client


@pytest.fixture
def scim(scim_token):
    """A SCIM client authenticated with the SCIM token."""
    return make_scim_client(scim_token[1])


@pytest.fixture
def agent_account(db):
    """A service account (an automated agent), which is not the directory's to manage."""
    from governance.access.services import service_account_get

    return service_account_get("ci-pipeline")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
