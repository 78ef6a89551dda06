"""The work of one predict request: how many queries it costs, and that nothing read once is
served after a change that takes access away (no answer is cached across requests)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group

from governance.access.models import ApiToken, ModelGrant
from governance.access.permissions import can_view_model
from governance.access.services import grant_revoke, token_revoke, user_deactivate, user_set_roles
from tests import factories
from workflows.testsuites.models import ScoringRecord

from .conftest import rows_of

pytestmark = pytest.mark.django_db


def predict(client, model, rows):
    return client.post(
        f"/api/v1/models/{model.slug}/predict", data=json.dumps({"inputs": rows}), content_type="application/json"
    )


def test_a_one_row_predict_with_a_token_costs_three_queries(
    champion, credit_model, victor, api_for, django_assert_max_num_queries
):
    client = api_for(victor)
    rows = rows_of(champion)
    assert predict(client, credit_model, rows).status_code == 200  # loads the champion, stamps the token's use
    # The token with its user and the user's roles, the model with the caller's right to it and
    # the versions that answer, the trace's insert.
    with django_assert_max_num_queries(3):
        response = predict(client, credit_model, rows)
    assert response.status_code == 200
    assert ScoringRecord.objects.filter(trace_id=response.json()["trace_id"], shadow=False).count() == 1


def test_a_one_row_predict_with_a_challenger_costs_no_more(
    two_versions, credit_model, victor, api_for, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    champion, _challenger = two_versions
    client = api_for(victor)
    rows = rows_of(champion)
    assert predict(client, credit_model, rows).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks, django_assert_max_num_queries(4):
        response = predict(client, credit_model, rows)
    assert response.status_code == 200 and response.json()["model_version"] == champion.number
    assert len(callbacks) == 1  # the challenger's shadow scoring, queued once the trace commits


def test_who_may_score_is_who_may_view(champion, credit_model, alice, bob, carol, oscar, audrey, admin_user, eve, victor, api_for):
    """The predict path decides visibility in its own query: it agrees with ``can_view_model``
    for grants held directly, through a group, through a role that sees every model, and none."""
    group = Group.objects.create(name="scoring-clients")
    grace = factories.make_user("grace")
    grace.groups.add(group)
    factories.grant(model=credit_model, group=group, role="viewer")
    rows = rows_of(champion)
    for user in (alice, bob, carol, oscar, audrey, admin_user, eve, victor, grace):
        status = predict(api_for(user), credit_model, rows).status_code
        expected = 200 if can_view_model(user, credit_model) else 404
        assert status == expected, user.username
    assert predict(api_for(eve), credit_model, rows).status_code == 404
    assert predict(api_for(grace), credit_model, rows).status_code == 200


def test_a_removed_grant_refuses_the_very_next_request(champion, credit_model, victor, alice, api_for):
    client = api_for(victor)
    rows = rows_of(champion)
    assert predict(client, credit_model, rows).status_code == 200
    grant_revoke(actor=alice, grant=ModelGrant.objects.get(model=credit_model, user=victor, role="viewer"))
    assert predict(client, credit_model, rows).status_code == 404
    assert ScoringRecord.objects.count() == 1


def test_leaving_the_group_that_holds_the_grant_refuses_the_very_next_request(champion, credit_model, api_for):
    group = Group.objects.create(name="scoring-clients")
    grace = factories.make_user("grace")
    grace.groups.add(group)
    factories.grant(model=credit_model, group=group, role="viewer")
    client = api_for(grace)
    rows = rows_of(champion)
    assert predict(client, credit_model, rows).status_code == 200
    grace.groups.remove(group)
    assert predict(client, credit_model, rows).status_code == 404


def test_a_removed_role_that_saw_every_model_refuses_the_very_next_request(champion, credit_model, audrey, admin_user, api_for):
    client = api_for(audrey)
    rows = rows_of(champion)
    assert predict(client, credit_model, rows).status_code == 200
    user_set_roles(actor=admin_user, user=audrey, roles=["data_scientist"])
    assert predict(client, credit_model, rows).status_code == 404


def test_a_revoked_token_or_a_deactivated_caller_is_refused_at_once(champion, credit_model, victor, admin_user, api_for):
    rows = rows_of(champion)
    client = api_for(victor)
    assert predict(client, credit_model, rows).status_code == 200
    token_revoke(actor=victor, token=ApiToken.objects.get(user=victor))
    assert predict(client, credit_model, rows).status_code == 401
    other = api_for(victor)
    assert predict(other, credit_model, rows).status_code == 200
    user_deactivate(actor=admin_user, user=victor)
    assert predict(other, credit_model, rows).status_code == 401
    assert ScoringRecord.objects.filter(shadow=False).count() == 2


def test_a_signed_in_callers_groups_are_read_once_per_request(champion, credit_model, victor, django_assert_max_num_queries):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(victor)
    rows = rows_of(champion)
    assert predict(client, credit_model, rows).status_code == 200
    # The session, the user, the user's groups (once for every role check), the model with the
    # caller's right to it and the versions that answer, the trace's insert.
    with django_assert_max_num_queries(5):
        assert predict(client, credit_model, rows).status_code == 200


def test_a_signed_in_callers_removed_role_counts_at_the_next_request(champion, credit_model, audrey, admin_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(audrey)
    rows = rows_of(champion)
    assert predict(client, credit_model, rows).status_code == 200
    user_set_roles(actor=admin_user, user=audrey, roles=["data_scientist"])
    assert predict(client, credit_model, rows).status_code == 404
