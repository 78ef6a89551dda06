#!/usr/bin/env python
"""Warm-up throughput: N rows (100,000 by default) through the real worker against onnxruntime.

What is compared, on the same machine and the same rows:

* the worker: a real ``celery -A governance worker`` process on a throwaway redis-server and a
  throwaway SQLite database runs the warm-up of a new ONNX version against the ONNX champion
  on the version's validation data (N rows): it reads the CSV, loads both artifacts, scores
  every row with both, samples single-row latency, computes agreement, PSI, histograms and the
  largest disagreements, and saves the report. Its time is the run's started_at..finished_at.
* the baseline, in this one process: read the same CSV with pandas, open both ONNX files in
  onnxruntime with the same session options, and score every row with both.

Rows per second are N divided by each time; the ratio is worker / baseline (the goal: >= 0.8).

    python bench/warmup_bench.py [--rows 100000] [--repeat 3]
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

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
        results = run_bench(args.rows, args.repeat)
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    worker_rate = args.rows / statistics.median(results["worker"])
    baseline_rate = args.rows / statistics.median(results["baseline"])
    print(f"rows: {args.rows:,}  repeats: {args.repeat}")
    print(f"worker warm-up (two models, full report): median {statistics.median(results['worker']):.3f} s "
          f"-> {worker_rate:,.0f} rows/s   (runs: {', '.join(f'{t:.3f}' for t in results['worker'])})")
    print(f"onnxruntime directly (read CSV, two models): median {statistics.median(results['baseline']):.3f} s "
          f"-> {baseline_rate:,.0f} rows/s   (runs: {', '.join(f'{t:.3f}' for t in results['baseline'])})")
    print(f"end to end from the test run's pass to the report (queue included): median {statistics.median(results['end_to_end']):.3f} s")
    print(f"ratio worker / direct: {worker_rate / baseline_rate:.2f}")
    worker_scoring = statistics.median(results["worker_scoring"])
    direct_scoring = statistics.median(results["baseline_scoring"])
    print(f"scoring alone (both models, all rows): worker {worker_scoring * 1000:.1f} ms (chunked, output checked) "
          f"vs onnxruntime {direct_scoring * 1000:.1f} ms -> ratio {direct_scoring / worker_scoring:.2f}")
    if os.environ.get("BENCH_SHOW_LOG"):
        print(results["last_log"])
    return 0


def run_bench(rows: int, repeat: int) -> dict:
    import numpy as np

    from governance.registry import sample_models
    from governance.registry.models import ModelVersion
    from governance.registry.storage import blob_path
    from tests import factories
    from tests.testsuites.helpers import (
        disagreeing_classifier_onnx,
        make_champion,
        upload_version,
    )
    from workflows.lifecycle.services import version_transition
    from workflows.testsuites import services
    from workflows.testsuites.models import WarmupRun

    alice = factories.make_user("alice", "data_scientist")
    oscar = factories.make_user("oscar", "operator")
    model = factories.make_model(alice, name="Bench", operator=[oscar])
    files = factories.classifier_files()
    train, valid, target = sample_models.breast_cancer_frames()
    features = list(train.columns.drop(target))[:8]
    rng = np.random.default_rng(0)
    big = valid[features + [target]].sample(rows, replace=True, random_state=0).reset_index(drop=True)
    for column in features:
        big[column] = big[column] * (1 + rng.normal(0, 0.02, rows))
    datasets = factories.make_datasets(alice, {**files, "valid_csv": sample_models.dataframe_to_csv_bytes(big)})
    champion = make_champion(factories.make_version(model, alice, datasets=datasets), submitter=alice, operator=oscar)
    # The suite itself is not what is measured here: keep it to the schema check.
    services.suite_config_update(model=model, raw_checks=[{"kind": "schema"}], user=alice)
    new_artifact = disagreeing_classifier_onnx(0.05)

    results = {"worker": [], "baseline": [], "end_to_end": [], "worker_scoring": [], "baseline_scoring": []}
    for _ in range(repeat):
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
            time.sleep(0.05)
        results["end_to_end"].append(time.perf_counter() - start)
        if run.status == "errored" or run.rows != rows:
            raise SystemExit(f"warm-up {run.status}: {run.error} ({run.rows} rows)")
        results["worker"].append((run.finished_at - run.started_at).total_seconds())
        timings = run.latency.get("timings", {})
        results["worker_scoring"].append((timings.get("new_total_ms", 0) + timings.get("champion_total_ms", 0)) / 1000)
        results["last_log"] = f"started {run.started_at:%H:%M:%S.%f}, finished {run.finished_at:%H:%M:%S.%f}\n{run.log}"
        # Withdraw it so the next round starts clean (and the champion stays the comparison).
        if ModelVersion.objects.get(pk=version.pk).state in ("in_review", "warmup_failed"):
            version_transition(version=version, name="withdraw", actor=alice, annotation="bench round done")

        total, scoring_only = direct_onnxruntime(
            blob_path(version.validation_dataset.path), blob_path(version.artifact_path), blob_path(champion.artifact_path), features
        )
        results["baseline"].append(total)
        results["baseline_scoring"].append(scoring_only)
    return results


def direct_onnxruntime(csv_path, new_path, champion_path, features) -> tuple[float, float]:
    """(seconds for everything, seconds of the two onnxruntime calls alone)."""
    import numpy as np
    import onnxruntime as ort
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(csv_path)
    matrix = frame[features].to_numpy(dtype=np.float32)
    scoring = 0.0
    for path in (new_path, champion_path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        begin = time.perf_counter()
        session.run(None, {session.get_inputs()[0].name: matrix})
        scoring += time.perf_counter() - begin
    return time.perf_counter() - start, scoring


if __name__ == "__main__":
    sys.exit(main())
