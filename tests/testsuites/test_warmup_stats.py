"""The warm-up report's statistics, read off sorted score arrays, equal the direct NumPy/pandas ones."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workflows.testsuites import checks, scoring, warmup, warmup_stats

from .. import factories


@pytest.fixture
def scores():
    rng = np.random.default_rng(3)
    new = rng.random(5000)
    champion = np.clip(new + rng.normal(0, 0.05, 5000), 0, 1)
    new[:40] = 0.5  # ties on a bin edge
    champion[:20] = 0.5
    return new, champion


def test_quantiles_match_numpy_percentile(scores):
    diff = scores[0] - scores[1]
    report = warmup_stats.quantiles(np.concatenate([diff, [np.nan]]))
    expected = np.percentile(diff, (5, 25, 50, 75, 95))
    assert [report[f"p{q}"] for q in (5, 25, 50, 75, 95)] == pytest.approx(expected, abs=1e-12)
    assert report["max_abs"] == pytest.approx(np.abs(diff).max())
    assert report["mean_abs"] == pytest.approx(np.abs(diff).mean())
    assert warmup_stats.quantiles(np.array([np.nan])) == {}


def test_psi_on_sorted_scores_matches_psi(scores):
    new, champion = scores
    assert checks.psi_sorted(np.sort(champion), np.sort(new)) == pytest.approx(checks.psi(pd.Series(champion), pd.Series(new)), rel=1e-12)
    assert checks.psi_sorted(np.sort(champion), np.sort(champion)) == pytest.approx(0.0, abs=1e-12)
    # Few distinct values: the categorical PSI, as psi() does.
    few_new, few_champion = np.round(new, 1), np.round(champion + 0.3, 1)
    assert checks.psi_sorted(np.sort(few_champion), np.sort(few_new)) == pytest.approx(
        checks.psi(pd.Series(few_champion), pd.Series(few_new))
    )


def test_histograms_match_numpy_histogram(scores):
    new, champion = scores
    report = warmup_stats.histograms(warmup_stats.finite_sorted(new), warmup_stats.finite_sorted(champion))
    edges = np.asarray(report["edges"])
    assert report["new"] == np.histogram(new, edges)[0].tolist()
    assert report["champion"] == np.histogram(champion, edges)[0].tolist()
    assert sum(report["new"]) == len(new)
    assert warmup_stats.histograms(np.array([2.0, 2.0]), None) == {"edges": pytest.approx(np.linspace(2, 3, 21).tolist()), "new": [2] + [0] * 19}


def test_latency_calls_are_spread_over_the_rows_and_counted(tmp_path: Path):
    files = factories.classifier_files()
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(files["onnx"])
    frame = pd.read_csv(io.BytesIO(files["valid_csv"]))
    features = [c for c in frame.columns if c != files["target"]]
    model = scoring.LoadedModel(fmt="onnx", path=artifact, features=features, task="classification")
    latency = warmup.single_row_latency(model, model.inputs_for(frame), 30)
    assert latency["calls"] == 30 and latency["rows_spread_over"] == len(frame)
    assert 0 < latency["p50_ms"] <= latency["p95_ms"]
    assert warmup.single_row_latency(model, model.inputs_for(frame.iloc[:0]), 30) == {}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1.01, -0.01])
def test_probabilities_that_are_not_finite_numbers_in_0_1_are_refused(bad):
    scores = np.array([0.2, 0.5, bad])
    with pytest.raises(scoring.ModelOutputError, match="not finite numbers in \\[0, 1\\]"):
        scoring._validated(np.array([0, 1, 1]), scores, 3, "classification")
    edge = scoring._validated(np.array([0, 1]), np.array([-1e-6, 1 + 1e-6]), 2, "classification")
    assert edge.scores.tolist() == [-1e-6, 1 + 1e-6]


def test_statistics_on_rows_some_models_failed_leave_those_rows_out(scores):
    new, champion = scores
    sorted_all = warmup_stats.finite_sorted(new)
    assert sorted_all.tolist() == np.sort(new).tolist()
    with_nan = new.copy()
    with_nan[:3] = [np.nan, np.inf, -np.inf]
    assert warmup_stats.finite_sorted(with_nan).tolist() == np.sort(new[3:]).tolist()
