"""An admin manages roles, grants and accounts, but cannot take over an account: no change to a
superuser, no password set for anyone, no second factor removed, no role's permissions edited.
Each refusal is tried as the attack was."""

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group, Permission
from django.core import mail

from governance.access import services
from governance.audit.models import AuditEvent
from governance.errors import ActionForbidden
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def hana(db):
    """An admin-role holder who is not a superuser."""
    return factories.make_user("hana", "admin", is_staff=True)


@pytest.fixture
def root(db):
    return factories.make_user("root", is_superuser=True, is_staff=True)


def test_admin_cannot_change_a_superuser(hana, root, browser_for):
    admin = browser_for(hana)
    data = {"username": "root", "first_name": "R", "last_name": "Oot", "is_active": "on", "_save": "Save"}
    assert admin.post(f"/admin/access/user/{root.pk}/change/", data).status_code == 403
    assert admin.get(f"/admin/access/user/{root.pk}/change/").status_code == 200  # seen, read-only
    with pytest.raises(ActionForbidden):
        services.user_deactivate(actor=hana, user=root)
    with pytest.raises(ActionForbidden):
        services.user_set_roles(actor=hana, user=root, roles=[])
    root.refresh_from_db()
    assert root.is_active and root.first_name == "Root"


@pytest.mark.parametrize("target", ["carol", "root"])
def test_nobody_sets_a_password_in_the_admin(target, request, hana, admin_user, browser_for):
    victim = request.getfixturevalue(target)
    for actor in (hana, admin_user):
        response = browser_for(actor).post(
            f"/admin/access/user/{victim.pk}/password/",
            {"password1": "taken-over-passphrase-1", "password2": "taken-over-passphrase-1"},
        )
        assert response.status_code == 403
    victim.refresh_from_db()
    assert victim.check_password(factories.PASSWORD)


def test_admin_cannot_move_a_persons_email_to_reset_into_their_own_mailbox(hana, carol, browser_for):
    page = browser_for(hana).get(f"/admin/access/user/{carol.pk}/change/").content.decode()
    assert 'name="email"' not in page


def test_admin_starts_a_reset_the_person_completes(hana, carol, browser_for):
    response = browser_for(hana).post(
        "/admin/access/user/", {"action": "send_password_reset", "_selected_action": [carol.pk]}
    )
    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [[carol.email]]
    carol.refresh_from_db()
    assert carol.check_password(factories.PASSWORD)  # unchanged until carol follows the link
    event = AuditEvent.objects.get(action="password.reset_requested")
    assert (event.actor_username, event.object_repr) == ("hana", "carol")


def test_admin_cannot_remove_anyones_second_factor(hana, carol, browser_for):
    authenticator = Authenticator.objects.create(user=carol, type=Authenticator.Type.TOTP, data={"secret": "x"})
    admin = browser_for(hana)
    assert admin.post(f"/admin/mfa/authenticator/{authenticator.pk}/delete/", {"post": "yes"}).status_code == 403
    admin.post("/admin/mfa/authenticator/", {"action": "delete_selected", "_selected_action": [authenticator.pk], "post": "yes"})
    assert Authenticator.objects.filter(pk=authenticator.pk).exists()


def test_admin_cannot_give_a_group_the_right_to_delete_authenticators(hana, browser_for):
    admin_group = Group.objects.get(name="admin")
    team = Group.objects.create(name="helpdesk")
    delete_mfa = Permission.objects.get(codename="delete_authenticator")
    admin = browser_for(hana)
    for group in (admin_group, team):
        admin.post(f"/admin/auth/group/{group.pk}/change/", {"name": group.name, "permissions": [delete_mfa.pk]})
        assert not group.permissions.filter(pk=delete_mfa.pk).exists()
