"""Who edits a model's test suite, and what a bad configuration answers."""

from __future__ import annotations

import pytest

from governance.errors import ActionError, ActionForbidden
from workflows.testsuites import services

pytestmark = pytest.mark.django_db


def test_owner_and_reviewer_edit_the_suite_contributor_and_outsider_cannot(credit_model, alice, bob, carol, eve, admin_user):
    services.suite_config_update(model=credit_model, raw_checks=[{"kind": "schema"}], user=alice)
    services.suite_config_update(model=credit_model, raw_checks=[{"kind": "drift", "threshold": 0.2}], user=carol)
    services.suite_config_update(model=credit_model, raw_checks=[{"kind": "schema"}], user=admin_user)
    for user in (bob, eve):
        with pytest.raises(ActionForbidden):
            services.suite_config_update(model=credit_model, raw_checks=[{"kind": "schema"}], user=user)
    with pytest.raises(ActionError, match="Check 1: unknown kind"):
        services.suite_config_update(model=credit_model, raw_checks=[{"kind": "nope"}], user=alice)
