"""The permission helpers: one place, no query per row, superusers get their real grants."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.access import permissions
from tests import factories

pytestmark = pytest.mark.django_db


def test_superuser_is_not_taken_for_owner_or_reviewer(credit_model, admin_user):
    assert permissions.can_view_model(admin_user, credit_model)
    assert permissions.can_manage_grants(admin_user, credit_model)
    assert not permissions.is_owner(admin_user, credit_model)
    assert not permissions.can_contribute(admin_user, credit_model)
    factories.grant(model=credit_model, user=admin_user, role="contributor", granted_by=admin_user)
    assert permissions.can_contribute(admin_user, credit_model)


@pytest.mark.parametrize("who", ["eve", "admin_user", "carol"])
def test_prefetched_checker_decides_many_models_in_fixed_queries(who, request, alice, carol):
    user = request.getfixturevalue(who)
    models = [factories.make_model(alice, name=f"Model {i}") for i in range(6)]
    for model in models[:3]:
        factories.grant(model=model, user=user, role="reviewer")
    user = type(user).objects.prefetch_related("groups").get(pk=user.pk)
    with CaptureQueriesContext(connection) as queries:
        checker = permissions.prefetch_model_perms(user, models)
        answers = [permissions.is_owner(user, model, checker) or permissions.model_perms(user, model, checker) for model in models]
    assert len(queries) <= 3
    assert [bool(answer) for answer in answers] == [True, True, True, False, False, False]


def test_inactive_user_holds_nothing(credit_model, bob):
    bob.is_active = False
    assert permissions.model_perms(bob, credit_model) == set()
    assert not permissions.can_view_model(bob, credit_model)
    assert not permissions.can_contribute(bob, credit_model)


def test_reviewer_needs_validator_role_and_grant(credit_model, carol, bob, alice):
    assert permissions.is_reviewer(carol, credit_model)
    factories.grant(model=credit_model, user=bob, role="reviewer")
    assert not permissions.is_reviewer(bob, credit_model)  # a data scientist, not a validator


def test_group_grants_count(credit_model, alice, eve):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="risk-team")
    eve.groups.add(team)
    factories.grant(model=credit_model, group=team, role="contributor", granted_by=alice)
    assert permissions.can_contribute(eve, credit_model)
    assert not permissions.is_owner(eve, credit_model)
