"""The admin site: grants through the grant services, audited; people, roles and tokens."""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session

from governance.access import permissions, services
from governance.access.models import ModelGrant
from governance.audit.models import AuditEvent
from governance.registry.models import MLModelUserObjectPermission
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def vince(db):
    return factories.make_user("vince", "validator")


def test_admin_gives_reviewer_grant_and_takes_it_away_and_audit_shows_both(
    credit_model, vince, admin_user, browser_for
):
    admin = browser_for(admin_user)
    response = admin.post(
        "/admin/access/modelgrant/add/",
        {"model": credit_model.pk, "user": vince.pk, "group": "", "role": "reviewer", "_save": "Save"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grant = ModelGrant.objects.get(model=credit_model, user=vince, role="reviewer")
    assert grant.granted_by == admin_user
    assert permissions.is_reviewer(vince, credit_model)

    response = admin.post(f"/admin/access/modelgrant/{grant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ModelGrant.objects.filter(pk=grant.pk).exists()
    assert not MLModelUserObjectPermission.objects.filter(user=vince, content_object=credit_model).exists()
    assert not permissions.is_reviewer(vince, credit_model)

    events = AuditEvent.objects.filter(object_type="access.modelgrant", object_id=str(grant.pk)).order_by("seq")
    assert [event.action for event in events] == ["grant.given", "grant.revoked"]
    assert all(event.actor_username == "admin" for event in events)
    assert events[0].details["role"] == "reviewer" and events[0].details["user"] == "vince"
    assert events[0].model_slug == credit_model.slug


def test_admin_cannot_remove_the_last_owner(credit_model, admin_user, browser_for):
    grant = credit_model.grants.get(role="owner")
    response = browser_for(admin_user).post(f"/admin/access/modelgrant/{grant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert ModelGrant.objects.filter(pk=grant.pk).exists()


def test_bulk_revoke_action_goes_through_the_services(credit_model, carol, dave, admin_user, browser_for):
    grants = list(credit_model.grants.filter(role="reviewer"))
    response = browser_for(admin_user).post(
        "/admin/access/modelgrant/",
        {"action": "revoke_grants", "_selected_action": [grant.pk for grant in grants]},
    )
    assert response.status_code == 302
    assert not credit_model.grants.filter(role="reviewer").exists()
    assert not permissions.is_reviewer(carol, credit_model) and not permissions.is_reviewer(dave, credit_model)
    revoked = AuditEvent.objects.filter(action="grant.revoked")
    assert sorted(revoked.values_list("actor_username", flat=True)) == ["admin", "admin"]


def test_guardian_object_permission_page_edits_roles(credit_model, vince, admin_user, browser_for):
    admin = browser_for(admin_user)
    base = f"/admin/registry/mlmodel/{credit_model.pk}/permissions/"
    assert admin.get(base).status_code == 200
    page = admin.get(f"{base}user-manage/{vince.pk}/")
    assert page.status_code == 200 and "Reviewer" in page.content.decode()
    response = admin.post(f"{base}user-manage/{vince.pk}/", {"permissions": ["reviewer", "viewer"]})
    assert response.status_code == 302
    assert set(ModelGrant.objects.filter(model=credit_model, user=vince).values_list("role", flat=True)) == {
        "reviewer",
        "viewer",
    }
    assert permissions.is_reviewer(vince, credit_model)
    admin.post(f"{base}user-manage/{vince.pk}/", {"permissions": ["viewer"]})
    assert not permissions.is_reviewer(vince, credit_model)
    actions = list(
        AuditEvent.objects.filter(object_type="access.modelgrant", actor_username="admin").values_list("action", flat=True)
    )
    assert actions.count("grant.given") == 2 and actions.count("grant.revoked") == 1


def test_guardian_group_page_refuses_removing_the_last_owner(credit_model, alice, admin_user, browser_for):
    team = Group.objects.create(name="risk-team")
    base = f"/admin/registry/mlmodel/{credit_model.pk}/permissions/"
    admin = browser_for(admin_user)
    admin.post(f"{base}group-manage/{team.pk}/", {"permissions": ["owner"]})
    assert credit_model.grants.filter(group=team, role="owner").exists()
    response = admin.post(f"{base}user-manage/{alice.pk}/", {"permissions": [], "submitted": "1"})
    assert response.status_code == 302  # alice can go: the team still owns the model
    response = admin.post(f"{base}group-manage/{team.pk}/", {"permissions": [], "submitted": "1"})
    assert response.status_code == 200 and "at least one owner" in response.content.decode()
    assert credit_model.grants.filter(group=team, role="owner").exists()


def test_role_change_in_user_admin_is_audited_with_the_admin(eve, admin_user, browser_for):
    admin = browser_for(admin_user)
    page = admin.get(f"/admin/access/user/{eve.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) for name in ("username", "first_name", "last_name")}
    validator, scientist = Group.objects.get(name="validator"), Group.objects.get(name="data_scientist")
    data.update({"groups": [validator.pk, scientist.pk], "is_active": "on", "_save": "Save"})
    response = admin.post(f"/admin/access/user/{eve.pk}/change/", data)
    assert response.status_code == 302, page.content.decode()[:500]
    eve.refresh_from_db()
    assert eve.role_names == ["data_scientist", "validator"]
    entry = LogEntry.objects.get_for_object(eve).filter(changes__icontains="groups").latest("timestamp")
    assert entry.actor == admin_user
    assert "validator" in str(entry.changes_dict["groups"])


def test_deactivating_in_user_admin_signs_the_user_out(alice, admin_user, browser_for):
    alice_browser = browser_for(alice)
    admin = browser_for(admin_user)
    page = admin.get(f"/admin/access/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) for name in ("username", "first_name", "last_name")}
    data.update({"groups": [group.pk for group in alice.groups.all()], "_save": "Save"})  # is_active unticked
    assert admin.post(f"/admin/access/user/{alice.pk}/change/", data).status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(alice.pk)]
    assert alice_browser.get("/account/tokens/").status_code == 302


def test_admin_revokes_a_token(alice, admin_user, browser_for):
    token, _ = services.token_create(actor=alice, user=alice, label="ci")
    response = browser_for(admin_user).post(
        "/admin/access/apitoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="token.revoked", object_id=str(token.pk))
    assert event.actor_username == "admin" and token.key_hash not in event.data


def test_token_admin_never_shows_the_hash(alice, admin_user, browser_for):
    token, raw = services.token_create(actor=alice, user=alice, label="ci")
    page = browser_for(admin_user).get(f"/admin/access/apitoken/{token.pk}/change/").content.decode()
    assert token.key_prefix in page and token.key_hash not in page and raw not in page


def test_admin_role_holder_uses_the_admin_and_others_cannot(admin_user, alice, credit_model, browser_for):
    hana = services.user_create(username="hana", email="hana@example.com", roles=["admin"], actor=admin_user)
    assert hana.is_staff
    hana_browser = browser_for(hana)
    assert hana_browser.get("/admin/access/modelgrant/").status_code == 200
    assert hana_browser.get(f"/admin/registry/mlmodel/{credit_model.pk}/permissions/").status_code == 200
    outsider = browser_for(alice)
    assert outsider.get("/admin/access/modelgrant/").status_code == 302  # to the admin login


def test_version_admin_is_read_only(version, admin_user, browser_for):
    admin = browser_for(admin_user)
    assert admin.get(f"/admin/registry/modelversion/{version.pk}/change/").status_code == 200
    response = admin.post(f"/admin/registry/modelversion/{version.pk}/change/", {"note": "changed"})
    assert response.status_code == 403


def test_admin_adds_a_service_account_without_password(admin_user, browser_for):
    from governance.access.models import User

    scientist = Group.objects.get(name="data_scientist")
    response = browser_for(admin_user).post(
        "/admin/access/user/add/",
        {
            "username": "drift-monitor",
            "email": "",
            "usable_password": "false",
            "groups": [scientist.pk],
            "is_service_account": "on",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    agent = User.objects.get(username="drift-monitor")
    assert agent.is_service_account and not agent.has_usable_password()
    assert agent.role_names == ["data_scientist"]
    assert LogEntry.objects.get_for_object(agent).filter(action=LogEntry.Action.CREATE).get().actor == admin_user


def test_admin_list_pages_render(version, admin_user, browser_for):
    admin = browser_for(admin_user)
    services.token_create(actor=admin_user, user=admin_user, label="ci")
    for url in (
        "/admin/",
        "/admin/access/user/",
        "/admin/access/user/?role=validator",
        "/admin/access/modelgrant/",
        "/admin/access/modelgrant/add/",
        "/admin/access/apitoken/",
        "/admin/auth/group/",
        "/admin/registry/mlmodel/",
        f"/admin/registry/mlmodel/{version.model.pk}/change/",
        "/admin/registry/dataset/",
        "/admin/registry/modelversion/",
    ):
        assert admin.get(url).status_code == 200, url
