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


def test_one_batch_task_scores_many_traces_each_with_its_challengers_once(
    two_versions, credit_model, alice, oscar, victor, datasets, api_for, django_assert_max_num_queries
):
    first, second = two_versions
    client = api_for(victor)
    early = [score(client, credit_model, rows_of(first, 2, offset)) for offset in range(3)]
    broken = to_challenger(upload_version(credit_model, alice, reshape_onnx(8), datasets), submitter=alice, operator=oscar)
    late = score(client, credit_model, rows_of(first, 1, 9))
    # The first trace already has its scoring by v2 (an earlier delivery); the last came when v3
    # was a challenger too; an unknown trace is skipped.
    services.shadow_score(trace_id=early[0]["trace_id"], version_id=second.pk)
    traces = [[answer["trace_id"], [second.pk]] for answer in early]
    traces += [[late["trace_id"], [second.pk, broken.pk]], ["no-such-trace", [second.pk]]]
    # Three reads, loading v3, and the insert, whatever the batch's size.
    with django_assert_max_num_queries(8):
        assert gateway_tasks.shadow_score_batch(traces) == 4
    shadow = ScoringRecord.objects.filter(shadow=True)
    assert sorted((r.trace_id, r.version_id) for r in shadow) == sorted(
        [(answer["trace_id"], second.pk) for answer in early] + [(late["trace_id"], second.pk), (late["trace_id"], broken.pk)]
    )
    good = shadow.get(trace_id=early[1]["trace_id"])
    assert good.error == "" and len(good.outputs["predictions"]) == 2 and good.rows == 2 and good.caller == victor
    assert good.latency_ms > 0 and good.artifact_sha256 == second.artifact_sha256 and good.inputs == []
    bad = shadow.get(trace_id=late["trace_id"], version=broken)
    assert bad.outputs == {} and "raised" in bad.error
    # Delivered again: nothing is recorded twice.
    assert gateway_tasks.shadow_score_batch(traces) == 0
    assert ScoringRecord.objects.filter(shadow=True).count() == 5


def test_a_process_sends_what_queued_up_as_one_task_at_most_once_per_interval(
    two_versions, credit_model, victor, api_for, broker, settings, monkeypatch
):
    """Requests answered while the previous task is being sent (or within the interval) go to
    the worker together, in one task; a worker then scores them all."""
    import threading

    first, second = two_versions
    settings.GOVERNANCE_GATEWAY_SHADOW_BATCH_SECONDS = 0.5
    sent = []
    release = threading.Event()
    original = gateway_tasks.shadow_score_batch.apply_async

    def slow_broker(*args, **kwargs):
        sent.append(kwargs["kwargs"]["traces"])
        release.wait(10)  # the broker takes its time with the first task
        return original(*args, **kwargs)

    # Shadow work of earlier tests in this process has left.
    wait_for(lambda: services._publisher().empty(), timeout=10, message="an empty outbox")
    monkeypatch.setattr(gateway_tasks.shadow_score_batch, "apply_async", slow_broker)
    client = api_for(victor)
    first_answer = score(client, credit_model, rows_of(first, 1))
    wait_for(lambda: len(sent) == 1, timeout=10, message="the first task sent")
    others = [score(client, credit_model, rows_of(first, 1, offset)) for offset in range(1, 6)]
    release.set()
    wait_for(lambda: len(sent) == 2, timeout=10, message="the second task sent")
    assert sent[0] == [[first_answer["trace_id"], [second.pk]]]
    assert sent[1] == [[answer["trace_id"], [second.pk]] for answer in others]
    with in_thread_worker():
        wait_for(lambda: ScoringRecord.objects.filter(shadow=True).count() == 6, timeout=60, message="six shadow records")
    assert set(ScoringRecord.objects.filter(shadow=True).values_list("version_id", flat=True)) == {second.pk}


def test_a_large_backlog_is_split_into_tasks_of_at_most_the_batch_rows():
    import queue as queue_module

    outbox = queue_module.Queue()
    for index, rows in enumerate([3, 4, 5, 2000, 1]):
        outbox.put((f"t{index}", [7], rows))
    batches = []
    while not outbox.empty():
        batches.append([trace for trace, _versions, _rows in services._outbox_batch(outbox, max_rows=10)])
    # A task takes traces until it holds 10 rows or more; a trace over the limit goes on its own.
    assert batches == [["t0", "t1", "t2"], ["t3"], ["t4"]]
