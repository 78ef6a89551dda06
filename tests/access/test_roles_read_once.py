"""A request's user reads its groups once for all its role checks; any other instance reads them
afresh on every check."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.access.models import User
from governance.access.roles import GlobalRole
from tests import factories

pytestmark = pytest.mark.django_db


def group_reads(queries) -> int:
    return sum(1 for query in queries if "auth_group" in query["sql"])


def test_a_request_users_groups_are_read_once_and_its_own_changes_are_seen():
    user = factories.make_user("rita", "data_scientist")
    user.roles_read_once = True
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert user.role_names == [GlobalRole.DATA_SCIENTIST]
            assert not user.has_role(GlobalRole.AUDITOR)
    assert group_reads(queries.captured_queries) == 1
    user.groups.add(Group.objects.get(name=GlobalRole.AUDITOR))
    assert user.has_role(GlobalRole.AUDITOR)
    user.groups.remove(Group.objects.get(name=GlobalRole.AUDITOR))
    assert not user.has_role(GlobalRole.AUDITOR)
    user.groups.set([])
    assert user.role_names == []


def test_other_instances_read_the_groups_on_every_check():
    user = factories.make_user("rita", "auditor")
    assert user.has_role(GlobalRole.AUDITOR)
    User.objects.get(pk=user.pk).groups.clear()
    assert not user.has_role(GlobalRole.AUDITOR)
