"""The admin shows the trail read-only; group memberships (roles) recorded through auditlog."""

import pytest
from auditlog.registry import auditlog
from django.contrib.auth.models import Group
from django.test import Client

from governance.access.models import User
from governance.audit.models import AuditEvent
from governance.audit.services import agent_event_record

from .conftest import last_event


@pytest.mark.django_db
def test_admin_shows_audit_events_read_only(admin_user):
    agent_event_record(agent_name="scheduler", action="job.ran", summary="nightly")
    event = last_event(action="job.ran")
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    page = client.get(f"/admin/audit/auditevent/{event.seq}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/audit/auditevent/{event.seq}/change/", {"summary": "x"}).status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.seq}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(seq=event.seq).summary == "nightly"


@pytest.mark.django_db
def test_role_membership_change_is_in_the_trail_with_the_group(alice, admin_user, audrey):
    # The access app registers users with auditlog; register here if it has not (this branch).
    registered_here = not auditlog.contains(User)
    if registered_here:
        auditlog.register(User, m2m_fields={"groups"}, include_fields=["is_active", "groups"])
    try:
        from governance.audit.context import audit_context

        with audit_context(actor=admin_user):
            alice.groups.add(Group.objects.get(name="validator"))
    finally:
        if registered_here:
            auditlog.unregister(User)
    event = last_event(action="user.updated")
    assert event.actor_username == "admin" and event.object_repr == "alice"
    assert ("groups", "", "validator") in event.change_rows
