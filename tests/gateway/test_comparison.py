"""The live comparison of champion and challengers, on hand-made traces with known figures."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.errors import ActionError
from governance.registry.models import MLModel
from tests import factories
from tests.testsuites.helpers import make_champion
from workflows.lifecycle.services import version_transition
from workflows.gateway import comparison as live
from workflows.testsuites.models import ScoringRecord

from .conftest import to_challenger

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(credit_model, alice, oscar, datasets, no_shadow_minimum):
    """v1 champion, v2 and v3 challengers, walked there through the lifecycle services (the
    traffic records below are made by hand)."""
    made = [factories.make_version(credit_model, alice, datasets=datasets) for _ in range(3)]
    return [
        make_champion(made[0], submitter=alice, operator=oscar),
        to_challenger(made[1], submitter=alice, operator=oscar),
        to_challenger(made[2], submitter=alice, operator=oscar),
    ]


def retire(*versions, actor):
    for version in versions:
        version_transition(version=version, name="retire", actor=actor, annotation="Retired for the test.")


def answer(model, version, predictions, *, probabilities=None, latency=1.0, ago=timedelta(minutes=5), error=""):
    outputs = {"predictions": predictions}
    if probabilities is not None:
        outputs["probabilities"] = probabilities
    record = ScoringRecord.objects.create(
        model=model,
        version=version,
        trace_id=uuid.uuid4().hex,
        inputs=[{"x": 1.0}] * len(predictions),
        outputs=outputs if not error else {},
        rows=len(predictions),
        latency_ms=latency,
        error=error,
    )
    ScoringRecord.objects.filter(pk=record.pk).update(at=timezone.now() - ago)
    return record.trace_id


def shadow(model, version, trace_id, predictions=None, *, probabilities=None, latency=1.0, error=""):
    outputs = {} if error else {"predictions": predictions}
    if probabilities is not None:
        outputs["probabilities"] = probabilities
    ScoringRecord.objects.create(
        model=model,
        version=version,
        trace_id=trace_id,
        inputs=[],
        outputs=outputs,
        shadow=True,
        rows=len(predictions or []),
        latency_ms=latency,
        error=error,
    )


def compute(model, key="24h", **kwargs):
    return live.comparison_compute(model=model, window=live.window_get(key), **kwargs)


def test_classification_agreement_distributions_latency_and_errors(credit_model, versions):
    v1, v2, v3 = versions
    # Five answers of two rows each; v2 agrees on 7 of its 8 paired rows and fails once; v3
    # shadows two of them and agrees on all four rows.
    latencies = [10.0, 20.0, 30.0, 40.0, 50.0]
    traces = [
        answer(credit_model, v1, [1, 0], probabilities=[0.95, 0.05], latency=latency) for latency in latencies
    ]
    for trace_id in traces[:3]:
        shadow(credit_model, v2, trace_id, [1, 0], probabilities=[0.85, 0.15], latency=2.0)
    shadow(credit_model, v2, traces[3], [0, 0], probabilities=[0.45, 0.15], latency=4.0)
    shadow(credit_model, v2, traces[4], error="RuntimeError: the session failed", latency=None)
    for trace_id in traces[:2]:
        shadow(credit_model, v3, trace_id, [1, 0], probabilities=[0.95, 0.05], latency=6.0)

    result = compute(credit_model)

    assert result.champion_now == 1 and not result.capped
    champion = result.champion
    assert champion.label == "Champion (version 1)"
    assert (champion.requests, champion.rows, champion.errors) == (5, 10, 0)
    assert champion.latency == {"p50": 30.0, "p95": pytest.approx(48.0), "p99": pytest.approx(49.6)}
    second, third = result.challengers
    assert (second.label, second.state_label) == ("Version 2", "challenger")
    assert (second.requests, second.errors, second.paired_requests, second.paired_rows) == (5, 1, 4, 8)
    assert second.agreement == pytest.approx(7 / 8)
    assert second.latency["p50"] == 2.0 and second.latency["p99"] == pytest.approx(3.94)
    assert (third.requests, third.errors, third.paired_rows, third.agreement) == (2, 0, 4, 1.0)
    # Probabilities on tenths of [0, 1], the same bins for every version.
    assert result.score_name == "probability" and len(result.edges) == 11
    assert champion.histogram == [5, 0, 0, 0, 0, 0, 0, 0, 0, 5]
    assert second.histogram == [0, 4, 0, 0, 1, 0, 0, 0, 3, 0]
    assert sum(third.histogram) == 4


def test_regression_mean_difference_and_share_within_tolerance(credit_model, versions, settings, victor):
    MLModel.objects.filter(pk=credit_model.pk).update(task="regression")
    model = MLModel.objects.get(pk=credit_model.pk)
    settings.GOVERNANCE_GATEWAY_REGRESSION_TOLERANCE = 0.05
    v1, v2, _v3 = versions
    first = answer(model, v1, [100.0, 200.0])
    second = answer(model, v1, [50.0, -10.0])
    shadow(model, v2, first, [104.0, 230.0])  # |4| within 5 of 100; |30| not within 10 of 200
    shadow(model, v2, second, [50.0, -10.4])  # both within
    result = compute(model)
    challenger = result.challengers[0]
    assert challenger.agreement is None
    assert challenger.mean_abs_diff == pytest.approx((4 + 30 + 0 + 0.4) / 4)
    assert challenger.max_abs_diff == pytest.approx(30.0)
    assert challenger.within_tolerance == pytest.approx(3 / 4)
    assert result.score_name == "prediction" and len(result.edges) == live.VALUE_BINS + 1
    assert result.edges[0] == -10.4 and result.edges[-1] == 230.0
    assert sum(result.champion.histogram) == 4 and sum(challenger.histogram) == 4
    html = page(victor, model.slug).content.decode()
    assert "Mean absolute difference from the champion (target units)" in html
    assert "Rows within 5% of the champion" in html and "8.6000" in html and "0.750" in html


def test_window_leaves_out_older_traffic(credit_model, versions):
    v1, v2, _v3 = versions
    recent = answer(credit_model, v1, [1], ago=timedelta(minutes=30))
    old = answer(credit_model, v1, [1], ago=timedelta(hours=3))
    shadow(credit_model, v2, recent, [1])
    shadow(credit_model, v2, old, [0])
    hour = compute(credit_model, "1h")
    assert hour.champion.requests == 1 and hour.challengers[0].agreement == 1.0
    day = compute(credit_model, "24h")
    assert day.champion.requests == 2 and day.challengers[0].agreement == 0.5


def test_cap_reads_the_newest_answers_in_few_queries(credit_model, versions):
    v1, v2, _v3 = versions
    for minutes in range(6):
        trace_id = answer(credit_model, v1, [1], ago=timedelta(minutes=minutes + 1))
        # The three newest agree, the three oldest do not.
        shadow(credit_model, v2, trace_id, [1] if minutes < 3 else [0])
    with CaptureQueriesContext(connection) as queries:
        capped = compute(credit_model, max_requests=3)
    assert len(queries) <= 3
    assert capped.capped and capped.max_requests == 3
    assert capped.champion.requests == 3 and capped.challengers[0].requests == 3
    assert capped.challengers[0].agreement == 1.0
    whole = compute(credit_model, max_requests=6)
    assert not whole.capped and whole.challengers[0].agreement == 0.5


def test_champion_errors_are_counted(credit_model, versions):
    v1, _v2, _v3 = versions
    answer(credit_model, v1, [1])
    answer(credit_model, v1, [], error="the model failed")
    result = compute(credit_model)
    assert (result.champion.requests, result.champion.errors, result.champion.rows) == (2, 1, 1)


def test_empty_cases(credit_model, versions, oscar):
    # No traffic in the window: no champion side; the current challengers are still named.
    result = compute(credit_model)
    assert result.champion is None and [c.paired_requests for c in result.challengers] == [0, 0]
    assert result.edges is None
    # No challenger: the champion's own figures.
    v1, v2, v3 = versions
    retire(v2, v3, actor=oscar)
    answer(credit_model, v1, [1], probabilities=[0.9])
    result = compute(credit_model)
    assert result.challengers == [] and result.champion.requests == 1
    # No champion at all.
    retire(v1, actor=oscar)
    ScoringRecord.objects.all().delete()
    result = compute(credit_model)
    assert result.champion_now is None and result.champion is None


def test_bad_window_is_refused_with_the_choices():
    assert live.window_get(None).key == "24h" and live.window_get(" 7D ").key == "7d"
    with pytest.raises(ActionError) as refused:
        live.window_get("2 weeks")
    assert "1h, 24h, 7d, 30d" in refused.value.message


# --- The page -------------------------------------------------------------------------------


def page(user, slug, query=""):
    client = Client()
    client.force_login(user)
    return client.get(f"/models/{slug}/comparison/{query}")


def test_page_shows_the_figures_and_svg_charts(credit_model, versions, victor):
    v1, v2, _v3 = versions
    trace_id = answer(credit_model, v1, [1, 0], probabilities=[0.9, 0.2], latency=12.5)
    shadow(credit_model, v2, trace_id, [1, 1], probabilities=[0.8, 0.6], latency=3.0)
    shadow(credit_model, _v3, trace_id, error="ValueError: bad input")
    response = page(victor, credit_model.slug, "?window=7d")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Live comparison of" in html and "the last 7 days" in html
    assert "Champion (version 1)" in html and "Version 2" in html
    assert "0.500 (50%)" in html  # agreement of version 2
    assert "12.50" in html  # the champion's latency, in ms
    assert html.count("<svg") == 2 and 'aria-label="Distribution of each version&#x27;s probabilities in the last 7 days"' in html
    assert 'aria-label="Latency per request in the last 7 days: p50, p95 and p99"' in html
    assert "milliseconds per request" in html and "<title>" in html
    assert "{'" not in html and "trace_id" not in html


def test_page_explains_the_empty_cases(credit_model, versions, victor, oscar):
    html = page(victor, credit_model.slug, "?window=1h").content.decode()
    assert "No request was answered in the last hour" in html and "<svg" not in html
    v1, v2, v3 = versions
    retire(v2, v3, actor=oscar)
    answer(credit_model, v1, [1], probabilities=[0.9])
    html = page(victor, credit_model.slug).content.decode()
    assert "No challenger shadowed the champion in the last 24 hours" in html
    assert html.count("<svg") == 2
    retire(v1, actor=oscar)
    ScoringRecord.objects.all().delete()
    html = page(victor, credit_model.slug).content.decode()
    assert "This model has no champion" in html and "<svg" not in html


def test_page_says_when_the_cap_applied(credit_model, versions, victor, settings):
    settings.GOVERNANCE_GATEWAY_COMPARISON_MAX_REQUESTS = 2
    v1, _v2, _v3 = versions
    for _ in range(3):
        answer(credit_model, v1, [1])
    html = page(victor, credit_model.slug).content.decode()
    assert "more than 2 answered requests: the figures cover the newest 2" in html


def test_page_refuses_a_bad_window_with_a_message(credit_model, versions, victor):
    response = page(victor, credit_model.slug, "?window=forever")
    assert response.status_code == 400
    html = response.content.decode()
    assert "is not a window this page knows: choose one of 1h, 24h, 7d, 30d." in html


def test_outsider_gets_404_and_the_model_page_links_the_comparison(credit_model, versions, eve, victor):
    assert page(eve, credit_model.slug).status_code == 404
    client = Client()
    client.force_login(victor)
    model_page = client.get(f"/models/{credit_model.slug}/").content.decode()
    assert f"/models/{credit_model.slug}/comparison/" in model_page
