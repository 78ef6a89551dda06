"""Traces: the record of each answer, read by API and page, and replayed by warm-up."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from governance.audit.models import AuditEvent
from tests import factories
from tests.testsuites.helpers import disagreeing_classifier_onnx, make_champion, upload_version
from workflows.testsuites import warmup
from workflows.testsuites.models import ScoringRecord

from .conftest import rows_of

pytestmark = pytest.mark.django_db


def score(client, model, rows) -> str:
    response = client.post(
        f"/api/v1/models/{model.slug}/predict", data=json.dumps({"inputs": rows}), content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    return response.json()["trace_id"]


def test_trace_names_the_version_its_bytes_data_and_approvers(champion, credit_model, victor, api_for, datasets, drain_access):
    client = api_for(victor)
    rows = rows_of(champion, 2)
    trace_id = score(client, credit_model, rows)
    response = client.get(f"/api/v1/traces/{trace_id}/")
    assert response.status_code == 200
    trace = response.json()
    training, validation = datasets
    assert trace["model"] == credit_model.slug and trace["model_version"] == champion.number
    assert trace["artifact_sha256"] == champion.artifact_sha256
    assert trace["training_dataset"] == {"id": training.pk, "name": training.name, "sha256": training.sha256}
    assert trace["validation_dataset"]["sha256"] == validation.sha256
    assert [a["username"] for a in trace["approved_by"]] == ["helper-reviewer"]
    assert trace["inputs"] == rows and len(trace["outputs"]["predictions"]) == 2
    assert trace["shadow"] == [] and trace["caller"] == "victor"
    assert trace["at"].endswith("Z")
    assert [p["model_version"] for p in trace["champion_history"]] == [champion.number]
    assert trace["champion_history"][0]["until"] is None and trace["champion_history"][0]["promoted_by"] == "oscar"
    # Looking at a trace is an access event of the trail, with who looked.
    drain_access()
    event = AuditEvent.objects.filter(action="trace.viewed").get()
    assert event.actor_username == "victor" and event.model_slug == credit_model.slug
    assert event.version_number == champion.number and trace_id in event.summary


def test_trace_of_a_model_the_caller_cannot_see_is_404(champion, credit_model, victor, eve, api_for, drain_access):
    trace_id = score(api_for(victor), credit_model, rows_of(champion))
    assert api_for(eve).get(f"/api/v1/traces/{trace_id}/").status_code == 404
    assert api_for(victor).get("/api/v1/traces/not-a-trace/").status_code == 404
    drain_access()
    assert not AuditEvent.objects.filter(action="trace.viewed").exists()


def test_trace_after_promotion_names_the_version_that_answered_it(champion, credit_model, alice, oscar, victor, api_for, datasets):
    client = api_for(victor)
    old_trace = score(client, credit_model, rows_of(champion))
    newer = make_champion(
        upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets), submitter=alice, operator=oscar
    )
    new_trace = score(client, credit_model, rows_of(champion))
    old = client.get(f"/api/v1/traces/{old_trace}/").json()
    new = client.get(f"/api/v1/traces/{new_trace}/").json()
    assert old["model_version"] == champion.number and new["model_version"] == newer.number
    assert old["artifact_sha256"] != new["artifact_sha256"] == newer.artifact_sha256
    history = [(p["model_version"], p["until"] is None) for p in old["champion_history"]]
    assert history == [(champion.number, False), (newer.number, True)]


def test_model_traces_are_cursor_paginated_newest_first_within_a_range(champion, credit_model, victor, eve, api_for):
    client = api_for(victor)
    traces = [score(client, credit_model, rows_of(champion, 1, i)) for i in range(5)]
    # Spread them over five hours (the records are written "now").
    now = timezone.now()
    for hours, trace_id in enumerate(reversed(traces)):
        ScoringRecord.objects.filter(trace_id=trace_id).update(at=now - timedelta(hours=hours))
    page = client.get(f"/api/v1/models/{credit_model.slug}/traces/?page_size=2").json()
    assert [item["trace_id"] for item in page["results"]] == [traces[4], traces[3]]
    assert page["previous"] is None and "cursor=" in page["next"]
    second = client.get(page["next"]).json()
    assert [item["trace_id"] for item in second["results"]] == [traces[2], traces[1]]
    since = (now - timedelta(hours=3, minutes=30)).isoformat()
    until = (now - timedelta(minutes=30)).isoformat()
    ranged = client.get(f"/api/v1/models/{credit_model.slug}/traces/", {"since": since, "until": until}).json()
    assert [item["trace_id"] for item in ranged["results"]] == [traces[3], traces[2], traces[1]]
    assert ranged["results"][0]["model_version"] == champion.number and ranged["results"][0]["shadow"] == []
    bad = client.get(f"/api/v1/models/{credit_model.slug}/traces/", {"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    assert api_for(eve).get(f"/api/v1/models/{credit_model.slug}/traces/").status_code == 404


def test_trace_page_answers_which_version_decided_for_this_input(champion, credit_model, victor, eve, datasets, api_for, drain_access):
    rows = rows_of(champion, 2)
    trace_id = score(api_for(victor), credit_model, rows)
    browser = Client()
    browser.force_login(victor)
    page = browser.get(f"/traces/{trace_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"version {champion.number}</strong>" in html
    assert champion.artifact_sha256 in html and datasets[0].sha256 in html and datasets[1].sha256 in html
    assert "helper-reviewer" in html and "still champion" in html
    assert champion.feature_names[0] in html and str(rows[1][champion.feature_names[0]]) in html
    assert "{'" not in html and "[{" not in html  # people read values, not Python or JSON structures
    drain_access()
    assert AuditEvent.objects.filter(action="trace.viewed", actor_username="victor").count() == 1
    outsider = Client()
    outsider.force_login(eve)
    assert outsider.get(f"/traces/{trace_id}/").status_code == 404


def test_model_traces_page_lists_and_finds_traces(champion, credit_model, victor, eve, api_for):
    trace_id = score(api_for(victor), credit_model, rows_of(champion))
    browser = Client()
    browser.force_login(victor)
    page = browser.get(f"/models/{credit_model.slug}/traces/")
    assert page.status_code == 200 and trace_id in page.content.decode()
    found = browser.get(f"/models/{credit_model.slug}/traces/", {"trace": trace_id})
    assert found.status_code == 302 and found["Location"] == f"/traces/{trace_id}/"
    later = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    empty = browser.get(f"/models/{credit_model.slug}/traces/", {"since": later})
    assert empty.status_code == 200 and trace_id not in empty.content.decode()
    assert browser.get(f"/models/{credit_model.slug}/traces/", {"since": "soon"}).status_code == 400
    outsider = Client()
    outsider.force_login(eve)
    assert outsider.get(f"/models/{credit_model.slug}/traces/").status_code == 404


def test_model_page_links_to_its_traces(champion, credit_model, victor, api_for):
    score(api_for(victor), credit_model, rows_of(champion))
    browser = Client()
    browser.force_login(victor)
    html = browser.get(credit_model.get_absolute_url()).content.decode()
    assert f"/models/{credit_model.slug}/traces/" in html and "1 answered request in the last 24 hours" in html


def test_warmup_of_a_new_version_replays_the_recorded_production_inputs(champion, credit_model, alice, victor, api_for, datasets):
    client = api_for(victor)
    for offset in range(0, 60, 20):
        score(client, credit_model, rows_of(champion, 20, offset))
    new = upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets)
    report = warmup.warmup_measure(new, log=lambda line: None)
    assert report["source"] == "production" and report["rows"] == 60
    assert report["champion"] == champion and report["errors"] == 0
