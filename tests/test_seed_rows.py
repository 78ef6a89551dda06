"""Rows that data migrations make come back after a flush (post_migrate), as after `migrate`."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from governance.access.roles import GlobalRole
from workflows.lifecycle.models import ApprovalPolicy
from workflows.lifecycle.policy import DEFAULT_REQUIRED_APPROVALS


@pytest.mark.django_db(transaction=True)
def test_role_groups_and_policies_survive_a_flush():
    call_command("flush", interactive=False, verbosity=0)

    assert set(Group.objects.values_list("name", flat=True)) >= set(GlobalRole.values)
    assert Group.objects.get(name="auditor").permissions.filter(codename="view_mlmodel").exists()
    assert dict(ApprovalPolicy.objects.values_list("risk_tier", "required_approvals")) == DEFAULT_REQUIRED_APPROVALS
