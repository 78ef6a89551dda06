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


@pytest.fixture(autouse=True)
def _connections_kept_across_requests():
    """Django closes the database connection when a request ends; the test's transaction lives
    on that connection, so calls through the WSGI application keep it open, as Django's own test
    client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def scim_token(db):
    """(token, raw secret) of a SCIM token, made as the console makes it."""
    return scim_token_create(actor=console_actor(), label="Entra ID (tests)")


def make_scim_client(raw: str | None) -> WSGISCIMClient:
    headers = {"Authorization": f"Bearer {raw}"} if raw is not None else {}
    client = WSGISCIMClient(
        get_wsgi_application(),
        base_url=BASE_URL,
        headers=headers,
        provider=ScimProvider(models=[User, Group]),
    )
    return client


@pytest.fixture
def scim(scim_token):
    """A SCIM client authenticated with the SCIM token."""
    return make_scim_client(scim_token[1])
