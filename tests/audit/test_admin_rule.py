"""The audit trail in the Django admin follows the audit page's rule and is an access event."""

import json

import pytest
from django.contrib.auth.models import Permission

from governance.audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_staff_with_model_permission_but_no_auditor_role_cannot_read_the_trail_in_admin(client):
    clerk = factories.make_user("clerk", "data_scientist", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(clerk)
    response = client.get("/admin/audit/auditevent/")
    assert response.status_code == 403


def test_admin_reading_the_trail_in_admin_is_recorded(client, admin_user, drain_access):
    client.force_login(admin_user)
    response = client.get("/admin/audit/auditevent/")
    assert response.status_code == 200
    drain_access()
    event = AuditEvent.objects.filter(action="audit.viewed").order_by("-seq").first()
    assert event is not None and event.actor_username == "admin" and json.loads(event.data)["via"] == "admin"
