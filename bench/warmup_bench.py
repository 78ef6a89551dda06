#!/usr/bin/env python
"""Warm-up throughput: N rows (100,000 by default) through the real worker against onnxruntime.

What is compared, on the same machine and the same rows, for two pairs of models:

* ``logreg``: a new ONNX logistic regression (8 features) against the ONNX champion, the issue's
  case, where fixed costs dominate; ``gbt``: a new scikit-learn GradientBoostingClassifier of 200
  trees (depth 3, via skl2onnx) against a champion of the same kind, where scoring dominates.
* the worker: a real ``celery -A governance worker`` process on a throwaway redis-server and a
  throwaway SQLite database runs the warm-up of the new version against the champion on the
  version's validation data (N rows): it reads the dataset (its typed copy, made at upload),
  loads both artifacts, scores every row with both, samples single-row latency, computes
  agreement, PSI, histograms and the largest disagreements, and saves the report. Its time is
  the run's started_at..finished_at (from the claim to the saved report).
* baseline ``csv`` (the issue's): in this one process, read the uploaded CSV with pandas, open
  both ONNX files in onnxruntime with the same session options, and score every row with both.
* baseline ``typed`` (stricter): the same, but reading the dataset's typed copy exactly as the
  worker does (``scoring.load_dataset``: SHA-256 checked, then decoded), so the worker gets no
  credit for not parsing CSV.

Each round runs, per pair, the worker's warm-up and both baselines (in alternating order) back to
back, so machine noise hits them alike. Rows per second are N divided by each time; a ratio is
worker / baseline (the goal: >= 0.8), from the medians; the spread is the lowest and highest of
the ratios of single rounds.

    python bench/warmup_bench.py [--rows 100000] [--repeat 5] [--pairs logreg,gbt] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR / "bench"))
import benchlib  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pairs", default="logreg,gbt", help="comma-separated: logreg, gbt")
    benchlib.add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat, args.pairs = min(args.rows, 5000), min(args.repeat, 2), "logreg"
    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "GOVERNANCE_LOCAL_CACHE": "1",
        "GOVERNANCE_WARMUP_MAX_ROWS": str(args.rows),
        "GOVERNANCE_SCORING_OUTSIDE_WORKERS": "1",  # the baselines load the artifacts in this process
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        sys.path.insert(0, str(BASE_DIR))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "governance", "worker", "--pool=solo", "--concurrency=1",
             "--hostname=bench@%h", "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
            cwd=str(BASE_DIR), env=env, stdout=open(workdir / "worker.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        results = run_bench(args.rows, args.repeat, pairs)
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, args.rows, args.repeat, pairs)
    write_json(results, args.rows, args.repeat, pairs, args.json)
    return 0


def write_json(results: dict, rows: int, repeat: int, pairs: list[str], path: str) -> None:
    """The figures in bench/benchlib.py's results format: a value per round."""
    if not path:
        return
    out = benchlib.Results("Warm-up throughput against onnxruntime")
    table = []
    for pair in pairs:
        r = results[pair]
        table.append([f"{pair}: {PAIR_TITLES[pair]}", "worker's warm-up", benchlib.runs([t * 1000 for t in r["worker"]], "ms", 1),
                      benchlib.runs([rows / t for t in r["worker"]], "rows/s", 0), ""])
        for base in ("csv", "typed"):
            if r[base]:
                table.append([
                    "", f"baseline `{base}`: {BASELINE_TITLES[base]}", benchlib.runs([t * 1000 for t in r[base]], "ms", 1),
                    benchlib.runs([rows / t for t in r[base]], "rows/s", 0),
                    benchlib.runs([b / w for b, w in zip(r[base], r["worker"])], "×"),
                ])
    out.section(
        f"SQLite, {rows:,} rows, {repeat} rounds",
        text=(
            "The worker: a real Celery worker process (solo pool, throwaway Redis and SQLite database) runs the "
            "warm-up of a new version against the champion on the version's validation data, from the run's "
            "`started_at` (stamped by the claim) to its `finished_at` (stamped by the UPDATE that saves the "
            "report): reading the dataset's typed copy, loading both artifacts, scoring every row with both "
            "(every output checked), sampling single-row latency, agreement, PSI, histograms, the largest "
            "disagreements. Baseline `csv`: in the bench process, pandas reads the uploaded CSV and two "
            "onnxruntime sessions with the worker's options score every row. Baseline `typed`: the same, reading "
            "the typed copy exactly as the worker does. Each round runs the worker and both baselines back to "
            "back; the ratio is the worker's rows per second ÷ the baseline's, per round (the aim: at least 0.8)."
        ),
        columns=["pair", "what", "time", "rows per second", "worker ÷ baseline rows/s"],
        rows=table,
    )
    out.write(path)


def _ms(values) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"


def report(results: dict, rows: int, repeat: int, pairs: list[str]) -> None:
    print(f"rows: {rows:,}  repeats: {repeat}  (times: median, lowest and highest of the rounds)")
    for pair in pairs:
        r = results[pair]
        print(f"\n== {pair}: {PAIR_TITLES[pair]}")
        worker = statistics.median(r["worker"])
        print(f"worker warm-up (two models, full report): {_ms(r['worker'])} -> {rows / worker:,.0f} rows/s")
        for base in ("csv", "typed"):
            times = r[base]
            if not times:
                print(f"baseline {base:5}: n/a (this code makes no typed copies)")
                continue
            paired = [b / w for b, w in zip(times, r["worker"])]
            print(f"baseline {base:5} ({BASELINE_TITLES[base]}): {_ms(times)} -> {rows / statistics.median(times):,.0f} rows/s")
            print(f"   ratio worker / {base}: {statistics.median(times) / worker:.2f}   "
                  f"(rounds: {min(paired):.2f} to {max(paired):.2f}; {', '.join(f'{x:.2f}' for x in paired)})")
        worker_scoring = statistics.median(r["worker_scoring"])
        direct_scoring = statistics.median(r["baseline_scoring"])
        print(f"scoring alone (both models, all rows): worker {worker_scoring * 1000:.1f} ms (chunked, output checked) "
              f"vs onnxruntime {direct_scoring * 1000:.1f} ms")
        phases = {}
        for timings in r["timings"]:
            for name, value in timings.items():
                phases.setdefault(name, []).append(value)
        print("worker phases (median ms): " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in phases.items()))
        print(f"end to end from the version's submit to the report (test run and queue included): "
              f"median {statistics.median(r['end_to_end']):.3f} s")
        if os.environ.get("BENCH_SHOW_LOG"):
            print(r["last_log"])


PAIR_TITLES = {
    "logreg": "logistic regression, 8 features (fixed costs dominate)",
    "gbt": "GradientBoostingClassifier, 200 trees of depth 3, 8 features (scoring dominates)",
}
BASELINE_TITLES = {
    "csv": "pandas reads the uploaded CSV, onnxruntime scores with both",
    "typed": "reads the typed copy as the worker does, onnxruntime scores with both",
}


def _gbt_onnx(seed: int, subsample: float) -> bytes:
    from sklearn.ensemble import GradientBoostingClassifier

    from governance.demo import sample_models

    train, _valid, target = sample_models.breast_cancer_frames()
    features = list(train.columns.drop(target))[:8]
    model = GradientBoostingClassifier(n_estimators=200, max_depth=3, subsample=subsample, random_state=seed)
    model.fit(train[features], train[target])
    return sample_models.to_onnx_bytes(model, len(features))


def _wait_idle(timeout: float = 300) -> None:
    """Wait until the worker has nothing queued or running (the champions' own test runs)."""
    from workflows.testsuites.models import ACTIVE_STATUSES, TestRun, WarmupRun

    deadline = time.monotonic() + timeout
    while TestRun.objects.filter(status__in=ACTIVE_STATUSES).exists() or WarmupRun.objects.filter(status__in=ACTIVE_STATUSES).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not become idle")
        time.sleep(0.1)


def run_bench(rows: int, repeat: int, pairs: list[str]) -> dict:
    import numpy as np

    from governance.demo import sample_models
    from tests import factories
    from tests.testsuites.helpers import (
        disagreeing_classifier_onnx,
        make_champion,
        upload_version,
    )
    from workflows.testsuites import services

    alice = factories.make_user("alice", "data_scientist")
    oscar = factories.make_user("oscar", "operator")
    # The suite is set by an admin: a model's owner only proposes changes to it.
    admin = factories.make_user("bench-admin", "admin")
    files = factories.classifier_files()
    train, valid, target = sample_models.breast_cancer_frames()
    features = list(train.columns.drop(target))[:8]
    rng = np.random.default_rng(0)
    big = valid[features + [target]].sample(rows, replace=True, random_state=0).reset_index(drop=True)
    for column in features:
        big[column] = big[column] * (1 + rng.normal(0, 0.02, rows))
    datasets = factories.make_datasets(alice, {**files, "valid_csv": sample_models.dataframe_to_csv_bytes(big)})
    # Without typed copies (the code before them, to compare) there is no typed baseline.
    typed = bool(getattr(datasets[1], "typed_sha256", ""))
    setups = {}
    for pair in pairs:
        model = factories.make_model(alice, name=f"Bench {pair}", operator=[oscar])
        if pair == "logreg":
            champion = make_champion(factories.make_version(model, alice, datasets=datasets), submitter=alice, operator=oscar)
            new_artifact = disagreeing_classifier_onnx(0.05)
        else:
            champion = make_champion(upload_version(model, alice, _gbt_onnx(0, 1.0), datasets), submitter=alice, operator=oscar)
            new_artifact = _gbt_onnx(1, 0.8)
        # The suite itself is not what is measured here: keep it to the schema check.
        services.suite_config_set(actor=admin, model=model, raw_checks=[{"kind": "schema"}], reason="Benchmark: schema only.")
        setups[pair] = (model, champion, new_artifact)
    _wait_idle()

    results = {
        pair: {key: [] for key in ("worker", "csv", "typed", "end_to_end", "worker_scoring", "baseline_scoring", "timings")}
        for pair in pairs
    }
    for round_number in range(repeat):
        for pair in pairs:
            model, champion, new_artifact = setups[pair]
            r = results[pair]
            version, run, elapsed = _worker_round(model, alice, new_artifact, datasets, rows)
            r["end_to_end"].append(elapsed)
            r["worker"].append((run.finished_at - run.started_at).total_seconds())
            timings = run.latency.get("timings", {})
            r["timings"].append(timings)
            r["worker_scoring"].append((timings.get("new_total_ms", 0) + timings.get("champion_total_ms", 0)) / 1000)
            r["last_log"] = f"started {run.started_at:%H:%M:%S.%f}, finished {run.finished_at:%H:%M:%S.%f}\n{run.log}"
            order = ("csv", "typed") if round_number % 2 == 0 else ("typed", "csv")
            order = order if typed else ("csv",)
            for base in order:
                total, scoring_only = direct_onnxruntime(base, version, champion, features)
                r[base].append(total)
                if base == "csv":
                    r["baseline_scoring"].append(scoring_only)
    return results


def _worker_round(model, alice, new_artifact, datasets, rows):
    from governance.registry.models import ModelVersion
    from tests.testsuites.helpers import upload_version
    from workflows.lifecycle.services import version_transition
    from workflows.testsuites.models import WarmupRun

    version = upload_version(model, alice, new_artifact, datasets)
    start = time.perf_counter()
    version_transition(version=version, name="submit", actor=alice)
    deadline = time.monotonic() + 600
    while True:
        run = WarmupRun.objects.filter(version=version).first()
        if run is not None and run.status in ("passed", "failed", "errored"):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up did not finish within 10 minutes")
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if run.status == "errored" or run.rows != rows:
        raise SystemExit(f"warm-up {run.status}: {run.error} ({run.rows} rows)")
    # Withdraw it so the next round starts clean (and the champion stays the comparison).
    if ModelVersion.objects.get(pk=version.pk).state in ("in_review", "warmup_failed"):
        version_transition(version=version, name="withdraw", actor=alice, annotation="bench round done")
    return version, run, elapsed


def direct_onnxruntime(base: str, version, champion, features) -> tuple[float, float]:
    """(seconds for everything, seconds of the two onnxruntime calls alone)."""
    import numpy as np
    import onnxruntime as ort
    import pandas as pd

    from governance.registry.storage import blob_path
    from workflows.testsuites import scoring

    dataset = version.validation_dataset
    paths = (blob_path(version.artifact_path), blob_path(champion.artifact_path))
    start = time.perf_counter()
    frame = pd.read_csv(blob_path(dataset.path)) if base == "csv" else scoring.load_dataset(dataset)
    matrix = frame[features].to_numpy(dtype=np.float32)
    scoring_time = 0.0
    for path in paths:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False  # the worker's session options (scoring.LoadedModel)
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        begin = time.perf_counter()
        session.run(None, {session.get_inputs()[0].name: matrix})
        scoring_time += time.perf_counter() - begin
    return time.perf_counter() - start, scoring_time


if __name__ == "__main__":
    sys.exit(main())
