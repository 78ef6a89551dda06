"""Only operators promote, roll back and retire serving versions; owners withdraw versions
before approval and retire approved versions that never served. By service, page and API; the
version page offers each person only what they may do."""

from __future__ import annotations

import pytest

from governance.errors import ActionForbidden
from governance.registry.models import ModelVersion, VersionState
from workflows.lifecycle import services
from tests import factories
from workflows.lifecycle.models import TransitionRecord

from .test_pages import page, panel_html

pytestmark = pytest.mark.django_db


def _api(client, version, name, annotation="because"):
    url = f"/api/v1/models/{version.model.slug}/versions/{version.number}/transitions/"
    return client.post(url, {"name": name, "annotation": annotation}, format="json")


def _state(version):
    return ModelVersion.objects.get(pk=version.pk).state


@pytest.mark.parametrize("state", ["challenger", "champion"])
def test_owner_cannot_retire_a_serving_version(version_in, alice, state, api_for, client):
    version = version_in(state)
    before = TransitionRecord.objects.count()
    with pytest.raises(ActionForbidden):
        services.version_transition(version=version, name="retire", actor=alice, annotation="mine to retire")
    response = _api(api_for(alice), version, "retire")
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]
    client.force_login(alice)
    refused = client.post(page(version, "transition"), {"name": "retire", "annotation": "mine to retire"})
    assert refused.status_code == 403
    assert _state(version) == state and TransitionRecord.objects.count() == before
    assert 'value="retire"' not in panel_html(version, alice)


@pytest.mark.parametrize("state", ["challenger", "champion"])
def test_operator_retires_a_serving_version(version_in, oscar, state, api_for, client):
    version = version_in(state)
    assert 'value="retire"' in panel_html(version, oscar)
    assert _api(api_for(oscar), version, "retire", "decommissioned").json()["state"] == VersionState.RETIRED


def test_owner_retires_an_approved_version_by_page_and_operator_by_api(version_in, alice, oscar, api_for, client):
    first, second = version_in("approved"), version_in("approved")
    assert 'value="retire"' in panel_html(first, alice)
    client.force_login(alice)
    assert client.post(page(first, "transition"), {"name": "retire", "annotation": "never to serve"}).status_code == 302
    assert _state(first) == VersionState.RETIRED
    assert _api(api_for(oscar), second, "retire", "not needed").json()["state"] == VersionState.RETIRED


@pytest.mark.parametrize("name, state", [("promote_to_challenger", "approved"), ("promote_to_champion", "challenger")])
def test_owner_cannot_promote(version_in, alice, name, state, api_for):
    version = version_in(state)
    assert _api(api_for(alice), version, name).status_code == 403
    assert f'value="{name}"' not in panel_html(version, alice)
    assert _state(version) == state


def test_owner_cannot_roll_back(version_in, alice, oscar, api_for):
    factories.shadow_minimums()
    first = version_in("champion")
    version_in("champion")  # replaces the first, which is now a former champion
    first = ModelVersion.objects.get(pk=first.pk)
    assert first.state == VersionState.RETIRED
    assert _api(api_for(alice), first, "rollback").status_code == 403
    assert 'value="rollback"' not in panel_html(first, alice)
    assert 'value="rollback"' in panel_html(first, oscar)


def test_operator_without_the_grant_is_refused(version_in, credit_model, api_for):
    from tests import factories

    otto = factories.make_user("otto", "operator")
    factories.grant(model=credit_model, user=otto, role="viewer")
    champion = version_in("champion")
    assert _api(api_for(otto), champion, "retire").status_code == 403


def test_owner_withdraws_a_version_sent_back_for_changes_but_not_an_approved_one(version_in, alice, api_for):
    approved = version_in("approved")
    assert _api(api_for(alice), approved, "withdraw").status_code == 409
    in_review = version_in("in_review")
    assert 'value="withdraw"' in panel_html(in_review, alice)
    assert _api(api_for(alice), in_review, "withdraw").json()["state"] == VersionState.WITHDRAWN


def test_one_request_decides_each_version_by_its_own_state(version_in, alice, api_for):
    """The version list shares one permission cache across versions: retire is offered to the
    owner on the approved version and not on the champion."""
    champion, approved = version_in("champion"), version_in("approved")
    results = api_for(alice).get(f"/api/v1/models/{champion.model.slug}/versions/").json()["results"]
    offered = {row["number"]: row["available_transitions"] for row in results}
    assert "retire" in offered[approved.number]
    assert "retire" not in offered[champion.number]
    cache: dict = {}
    assert "retire" in services.transitions_available(version=approved, user=alice, cache=cache)
    assert "retire" not in services.transitions_available(version=champion, user=alice, cache=cache)
