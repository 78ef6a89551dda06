"""Only a live SCIM token opens /scim/v2/, and a SCIM token opens nothing else."""

from __future__ import annotations

import pytest
from django.test import Client
from scim2_models import Error, User

from governance.access.models import User as PortalUser
from governance.access.services import DIRECTORY_AGENT, directory_actor, token_create, user_deactivate
from governance.audit.models import AuditEvent
from governance.directory.models import ScimToken
from governance.directory.services import scim_token_create, scim_token_revoke
from governance.errors import ActionForbidden

from .conftest import make_scim_client

pytestmark = pytest.mark.django_db


def refused(client) -> int:
    """The status of the SCIM error the client gets back (scim2-client reads it as an Error)."""
    error = client.query(User, raise_scim_errors=False)
    assert isinstance(error, Error), error
    return error.status


def test_the_scim_token_is_accepted(scim, scim_token):
    assert scim.query(User).total_results == 0
    token = ScimToken.objects.get(pk=scim_token[0].pk)
    assert token.last_used_at is not None


def test_no_token_is_refused():
    assert refused(make_scim_client(None)) == 401
    event = AuditEvent.objects.get(action="scim.token_refused")
    assert event.details["reason"] == "no_token"


def test_a_wrong_token_is_refused(scim_token):
    assert refused(make_scim_client("scim_not-a-token")) == 401
    assert AuditEvent.objects.get(action="scim.token_refused").details["reason"] == "unknown_token"


def test_a_revoked_token_is_refused_on_the_next_call(scim, scim_token, admin_user):
    assert scim.query(User).total_results == 1  # the admin
    scim_token_revoke(actor=admin_user, token=scim_token[0])
    assert refused(scim) == 401
    event = AuditEvent.objects.get(action="scim.token_refused")
    assert event.details["reason"] == "revoked_token" and event.details["scim_token_id"] == scim_token[0].pk
    assert AuditEvent.objects.get(action="scim_token.revoked").actor_username == "admin"


def test_an_api_token_is_not_a_scim_token(admin_user):
    _, raw = token_create(actor=admin_user, user=admin_user, label="admin's own")
    assert refused(make_scim_client(raw)) == 401


def test_a_signed_in_admin_session_is_not_a_scim_token(admin_user):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.get("/scim/v2/Users")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="scim"'
    response = browser.post(
        "/scim/v2/Users", data='{"userName": "mallory"}', content_type="application/scim+json"
    )
    assert response.status_code == 401
    assert not PortalUser.objects.filter(username="mallory").exists()


def test_a_scim_token_is_not_an_api_token(scim_token):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {scim_token[1]}")
    assert api.get("/api/v1/models/").status_code == 401


def test_the_directory_agent_gets_no_api_token(admin_user):
    with pytest.raises(ActionForbidden):
        token_create(actor=admin_user, user=directory_actor(), label="sneaky")


def test_only_admins_and_the_console_make_and_revoke_scim_tokens(alice, admin_user, scim_token):
    with pytest.raises(ActionForbidden):
        scim_token_create(actor=alice, label="mine")
    with pytest.raises(ActionForbidden):
        scim_token_revoke(actor=alice, token=scim_token[0])
    with pytest.raises(ActionForbidden):
        scim_token_create(actor=directory_actor(), label="the directory's own")
    token, raw = scim_token_create(actor=admin_user, label="Okta")
    assert raw.startswith("scim_") and token.key_hash != raw and raw not in token.key_prefix + token.key_hash
    created = AuditEvent.objects.filter(action="scim_token.created").order_by("seq")
    assert [event.actor_username for event in created] == ["console", "admin"]


def test_the_directory_agent_cannot_be_switched_off(admin_user):
    from governance.errors import ActionConflict

    with pytest.raises(ActionConflict):
        user_deactivate(actor=admin_user, user=directory_actor())
    assert PortalUser.objects.get(username=DIRECTORY_AGENT).is_active


def test_the_token_commands_create_and_revoke(capsys):
    from django.core.management import call_command

    call_command("create_scim_token", "Keycloak")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("scim_")
    client = make_scim_client(raw)
    assert client.query(User).total_results == 0
    call_command("revoke_scim_token", raw[:14])
    assert refused(client) == 401
    assert AuditEvent.objects.get(action="scim_token.revoked").actor_username == "console"


def test_an_id_that_is_not_ours_is_not_found(scim_token):
    api = Client(HTTP_AUTHORIZATION=f"Bearer {scim_token[1]}")
    for path in ("/scim/v2/Users/not-a-number", "/scim/v2/Groups/abc", "/scim/v2/Users/999999"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert api.get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").status_code == 200
