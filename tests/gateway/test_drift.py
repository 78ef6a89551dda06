"""The drift agent: PSI of a champion's recent production inputs against its training data."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from governance.access.selectors import owner_users
from workflows.gateway import drift
from workflows.gateway.models import DriftCheck, DriftPolicy
from workflows.lifecycle.models import Annotation
from workflows.notifications.models import Notification
from workflows.testsuites.models import AgentRun

from .conftest import rows_of

pytestmark = pytest.mark.django_db


def feed(client, model, rows):
    for start in range(0, len(rows), 50):
        response = client.post(
            f"/api/v1/models/{model.slug}/predict", data=json.dumps({"inputs": rows[start : start + 50]}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.json()


def test_shifted_inputs_are_annotated_by_the_agent_and_flagged_on_the_model_page(
    champion, credit_model, victor, api_for, settings
):
    settings.GOVERNANCE_DRIFT_MIN_ROWS = 100
    shifted_feature = champion.feature_names[0]
    rows = rows_of(champion, 140)
    for row in rows:
        row[shifted_feature] = row[shifted_feature] * 3 + 10
    feed(api_for(victor), credit_model, rows)

    run = drift.drift_check_all()
    assert run.agent_name == "drift-monitor" and "1 over their threshold" in run.summary
    check = DriftCheck.objects.get()
    assert check.drifted and check.rows == 140 and check.version == champion
    assert check.features[0]["name"] == shifted_feature and check.features[0]["psi"] > 1
    note = Annotation.objects.get(version=champion, agent_name="drift-monitor")
    assert note == check.annotation and note.actor_kind == "agent"
    assert shifted_feature in note.text and "“training”" in note.text
    # The model's owners and operators hear of the flag (once), nobody else.
    told = set(Notification.objects.filter(event="drift_flagged").values_list("recipient__username", flat=True))
    assert told == {user.username for user in owner_users(model=credit_model)} | {"oscar"}

    browser = Client()
    browser.force_login(victor)
    html = browser.get(credit_model.get_absolute_url()).content.decode()
    assert "Drift flagged" in html and shifted_feature in html

    # The next run within the window keeps the check but does not annotate again.
    drift.drift_check_all()
    assert DriftCheck.objects.filter(drifted=True).count() == 2
    assert Annotation.objects.filter(agent_name="drift-monitor").count() == 1
    assert Notification.objects.filter(event="drift_flagged").count() == len(told)


def test_inputs_like_the_training_data_are_not_flagged(champion, credit_model, victor, api_for, settings):
    settings.GOVERNANCE_DRIFT_MIN_ROWS = 100
    feed(api_for(victor), credit_model, rows_of(champion, 140))
    drift.drift_check_all()
    check = DriftCheck.objects.get()
    assert not check.drifted and check.annotation is None
    assert not Annotation.objects.filter(agent_name="drift-monitor").exists()


def test_threshold_is_set_per_model(champion, credit_model, victor, api_for, settings):
    settings.GOVERNANCE_DRIFT_MIN_ROWS = 100
    feed(api_for(victor), credit_model, rows_of(champion, 140))
    DriftPolicy.objects.create(model=credit_model, psi_threshold=0.0001)
    drift.drift_check_all()
    check = DriftCheck.objects.get()
    assert check.threshold == 0.0001 and check.drifted


def test_champions_with_too_little_traffic_are_skipped(champion, credit_model, victor, api_for, settings):
    settings.GOVERNANCE_DRIFT_MIN_ROWS = 100
    feed(api_for(victor), credit_model, rows_of(champion, 20))
    run = drift.drift_check_all()
    assert not DriftCheck.objects.exists()
    assert AgentRun.objects.get(pk=run.pk).data["skipped"][0]["reason"] == "too few recent rows"
