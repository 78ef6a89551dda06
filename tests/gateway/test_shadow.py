"""Shadow scoring: challengers score the same inputs on a real worker, under the caller's trace id."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.testsuites.conftest import TEST_REDIS_URL, free_port, in_thread_worker, purge, use_broker, wait_for
from tests.testsuites.helpers import reshape_onnx, upload_version
from workflows.gateway import services
from workflows.gateway import tasks as gateway_tasks  # noqa: F401 - registers the task with the app
from workflows.testsuites.models import ScoringRecord

from .conftest import rows_of, to_challenger

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def broker():
    use_broker(TEST_REDIS_URL)
    purge()
    yield
    use_broker(TEST_REDIS_URL)
    purge()


def score(client, model, rows) -> dict:
    response = client.post(
        f"/api/v1/models/{model.slug}/predict", data=json.dumps({"inputs": rows}), content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def test_challengers_shadow_under_the_callers_trace_and_failures_are_counted(
    two_versions, credit_model, alice, oscar, victor, datasets, api_for, broker
):
    first, second = two_versions
    broken = to_challenger(upload_version(credit_model, alice, reshape_onnx(8), datasets), submitter=alice, operator=oscar)
    client = api_for(victor)
    rows = rows_of(first, 5)
    # No worker yet: the answer comes from the champion alone, the shadow work waits in Redis.
    answer = score(client, credit_model, rows)
    assert answer["model_version"] == first.number
    assert not ScoringRecord.objects.filter(shadow=True).exists()

    with in_thread_worker():
        wait_for(
            lambda: ScoringRecord.objects.filter(trace_id=answer["trace_id"], shadow=True).count() == 2,
            timeout=60, message="both challengers' shadow records",
        )
    good = ScoringRecord.objects.get(trace_id=answer["trace_id"], version=second)
    assert good.shadow and good.error == "" and len(good.outputs["predictions"]) == 5
    assert good.caller == victor and good.artifact_sha256 == second.artifact_sha256 and good.latency_ms > 0
    bad = ScoringRecord.objects.get(trace_id=answer["trace_id"], version=broken)
    assert bad.shadow and bad.outputs == {} and "raised" in bad.error

    trace = client.get(f"/api/v1/traces/{answer['trace_id']}/").json()
    assert [(item["model_version"], bool(item["error"])) for item in trace["shadow"]] == [
        (second.number, False), (broken.number, True)
    ]
    assert trace["shadow"][0]["outputs"] == good.outputs
    assert trace["outputs"]["predictions"] == answer["predictions"]  # the caller's answer is the champion's

    browser = Client()
    browser.force_login(victor)
    html = browser.get(f"/models/{credit_model.slug}/traces/").content.decode()
    assert f"Version {broken.number}: 1 scoring" in html and "1 error" in html
    page = browser.get(f"/traces/{answer['trace_id']}/").content.decode()
    assert "raised" in page
    # A delivery of the same task again records nothing twice.
    gateway_tasks.shadow_score(answer["trace_id"], [second.pk, broken.pk])
    assert ScoringRecord.objects.filter(trace_id=answer["trace_id"], shadow=True).count() == 2


def test_answer_is_given_and_traced_while_the_broker_is_down(two_versions, credit_model, victor, api_for, broker):
    first, _second = two_versions
    use_broker(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    answer = score(api_for(victor), credit_model, rows_of(first, 2))
    assert ScoringRecord.objects.filter(trace_id=answer["trace_id"], shadow=False).exists()


def test_shadow_of_an_unknown_trace_records_nothing(two_versions):
    assert services.shadow_score(trace_id="no-such-trace", version_id=two_versions[1].pk) is None
    assert not ScoringRecord.objects.exists()
