#!/usr/bin/env python
"""The scoring gateway against MLflow's model server, on the same model and the same machine.

* gateway: ``gunicorn governance.wsgi`` (``--workers W``, threaded workers so that connections
  are kept alive; persistent database connections) on a throwaway SQLite database, a
  throwaway redis-server (broker and shared cache) and a Celery worker, with everything on: the
  API token checked, the rate limit counted in Redis, inputs checked against the schema, the
  trace committed before the answer, and a challenger's shadow scoring queued for each request.
* mlflow: ``mlflow models serve --env-manager local -w W`` of the same ONNX file (MLflow's onnx
  flavour, onnxruntime underneath), MLflow installed in its own virtual environment
  (``~/.cache/governance-bench/mlflow-serve-venv``, see bench/benchlib.py, made on first run;
  never in requirements.txt).
* onnxruntime: the same ONNX file called directly in this process, one row at a time.

Each server gets the same requests over keep-alive connections from C client processes: one-row
requests and 1,000-row requests (``{"inputs": [{feature: value}, ...]}`` for the gateway; the
same values as MLflow's tensor input ``{"inputs": [[value, ...], ...]}`` for MLflow, whose ONNX
flavour cannot answer a DataFrame input with a label and a probability matrix). Printed: requests per second, p50 and p99 for each,
the gateway / MLflow ratios, and the p50 of onnxruntime alone on one row.

    python bench/gateway_bench.py [--workers 2] [--clients 4] [--requests 2000] [--big-requests 100]
                                  [--database-url postgres://.../empty_database] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
MLFLOW_VENV = benchlib.mlflow_venv("mlflow-serve-venv")


free_port, wait_port = benchlib.free_port, benchlib.wait_port
mlflow_python = benchlib.mlflow_serve_python  # MLflow's own virtual environment, made on first use


def client_run(args) -> list[float]:
    """One client process: ``count`` POSTs of ``body`` on one keep-alive connection; seconds each."""
    port, path, body, count = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", **json.loads(os.environ.get("BENCH_HEADERS", "{}"))}
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        timings.append(time.perf_counter() - start)
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}")
    conn.close()
    return timings


def load(port: int, path: str, body: bytes, *, clients: int, requests: int, headers: dict) -> dict:
    os.environ["BENCH_HEADERS"] = json.dumps(headers)
    client_run((port, path, body, 20))  # warm both sides up (loads, connections)
    per_client = max(1, requests // clients)
    with multiprocessing.Pool(clients) as pool:
        start = time.perf_counter()
        results = pool.map(client_run, [(port, path, body, per_client)] * clients)
        elapsed = time.perf_counter() - start
    timings = sorted(t for result in results for t in result)
    return {
        "rps": len(timings) / elapsed,
        "p50_ms": statistics.median(timings) * 1000,
        "p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000,
        "n": len(timings),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000, help="one-row requests per server")
    parser.add_argument("--big-requests", type=int, default=100, help="1,000-row requests per server")
    parser.add_argument("--without-shadow", action="store_true", help="no challenger and no Celery worker (to compare)")
    parser.add_argument(
        "--database-url", default="",
        help="an empty PostgreSQL database to use (as in production) instead of a throwaway SQLite file",
    )
    benchlib.add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.requests, args.big_requests = min(args.requests, 200), min(args.big_requests, 8)

    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    redis_port, gateway_port, mlflow_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        # Persistent database connections, as a deployment runs them: a connection per request
        # costs more than the whole answer (and on SQLite, a WAL checkpoint when it closes).
        "DATABASE_CONN_MAX_AGE": "600",
        # Counted for every request, never reached.
        "GOVERNANCE_GATEWAY_RATE_LIMIT": str(10**9),
        "GOVERNANCE_SCORING_OUTSIDE_WORKERS": "1",  # the set-up walks versions through their states here
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    processes: list[subprocess.Popen] = []

    def spawn(command, log_name, **kwargs):
        log = workdir / log_name
        process = subprocess.Popen(command, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                   start_new_session=True, **kwargs)
        processes.append(process)
        return process, log

    try:
        spawn([shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", str(workdir)], "redis.log")
        python = mlflow_python()
        sys.path.insert(0, str(BASE_DIR))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        setup = set_up(workdir, shadow=not args.without_shadow)
        # MLflow's own model directory for the same ONNX bytes.
        subprocess.run(
            [str(python), "-c", "import sys, onnx, mlflow.onnx; mlflow.onnx.save_model(onnx.load(sys.argv[1]), sys.argv[2])",
             str(setup["onnx_path"]), str(workdir / "mlflow-model")],
            check=True, capture_output=True,
        )
        if not args.without_shadow:
            spawn([sys.executable, "-m", "celery", "-A", "governance", "worker", "--pool=solo", "--concurrency=1",
                   "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
                  "worker.log", cwd=str(BASE_DIR), env=env)
        gateway, gateway_log = spawn(
            [sys.executable, "-m", "gunicorn", "governance.wsgi:application", "--bind", f"127.0.0.1:{gateway_port}",
             "--workers", str(args.workers), "--worker-class", "gthread", "--threads", "2", "--keep-alive", "30"],
            "gunicorn.log", cwd=str(BASE_DIR), env=env,
        )
        mlflow_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "GOVERNANCE"))}
        # MLflow starts its own gunicorn by name: the one of its virtual environment.
        mlflow_env["PATH"] = f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        mlflow, mlflow_log = spawn(
            [str(python), "-m", "mlflow", "models", "serve", "-m", str(workdir / "mlflow-model"), "--env-manager",
             "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", str(args.workers)],
            "mlflow.log", env=mlflow_env,
        )
        wait_port(gateway_port, gateway, gateway_log)
        wait_port(mlflow_port, mlflow, mlflow_log)
        time.sleep(2)
        results = {}
        for label, rows, count in (("1 row", setup["one"], args.requests), ("1,000 rows", setup["big"], args.big_requests)):
            gateway_body = json.dumps({"inputs": rows}).encode()
            # MLflow's tensor input (its ONNX flavour cannot return a label and a probability
            # matrix for a DataFrame input): the same values, without the feature names.
            mlflow_body = json.dumps({"inputs": [[row[f] for f in setup["features"]] for row in rows]}).encode()
            results[label] = {
                "gateway": load(gateway_port, f"/api/v1/models/{setup['slug']}/predict", gateway_body,
                                clients=args.clients, requests=count, headers={"Authorization": f"Bearer {setup['token']}"}),
                "mlflow": load(mlflow_port, "/invocations", mlflow_body, clients=args.clients, requests=count, headers={}),
            }
        direct = onnxruntime_p50(setup["onnx_path"], setup["one"], setup["features"])
        shadow = shadow_recorded(setup) if not args.without_shadow else None
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, direct, shadow, args)
    write_json(results, direct, shadow, args)
    return 0


def set_up(workdir: Path, *, shadow: bool = True) -> dict:
    """A model whose champion and challenger are the sample classifier (8 features), a viewer's token."""
    from governance.access.services import token_create
    from governance.demo import sample_models
    from governance.registry.storage import blob_path
    from tests import factories
    from tests.gateway.conftest import to_challenger
    from tests.testsuites.helpers import disagreeing_classifier_onnx, make_champion, upload_version
    from workflows.lifecycle.models import ApprovalPolicy

    ApprovalPolicy.objects.update(min_shadow_hours=0, min_shadow_requests=0)
    alice = factories.make_user("alice", "data_scientist")
    oscar = factories.make_user("oscar", "operator")
    caller = factories.make_user("scoring-service")
    model = factories.make_model(alice, name="Bench", operator=[oscar], viewer=[caller])
    datasets = factories.make_datasets(alice)
    champion = make_champion(factories.make_version(model, alice, datasets=datasets), submitter=alice, operator=oscar)
    if shadow:
        to_challenger(upload_version(model, alice, disagreeing_classifier_onnx(), datasets), submitter=alice, operator=oscar)
    _, token = token_create(actor=caller, user=caller, label="bench")
    _train, valid, target = sample_models.breast_cancer_frames()
    features = champion.feature_names
    records = [{k: float(v) for k, v in row.items()} for row in valid[features].to_dict(orient="records")]
    big = (records * (1000 // len(records) + 1))[:1000]
    return {
        "slug": model.slug, "token": token, "one": records[:1], "big": big, "features": features,
        "onnx_path": blob_path(champion.artifact_path),
    }


def onnxruntime_p50(path: Path, rows: list[dict], features: list[str], repeat: int = 2000) -> float:
    """onnxruntime alone on one row (already an array): the floor any server adds to."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    array = np.asarray([[rows[0][f] for f in features]], dtype=np.float32)
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, {name: array})
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def shadow_recorded(setup: dict) -> tuple[int, int]:
    """(answers traced, challenger scorings recorded) once the worker has caught up (up to 60 s)."""
    from workflows.testsuites.models import ScoringRecord

    answered = ScoringRecord.objects.filter(shadow=False).count()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and ScoringRecord.objects.filter(shadow=True).count() < answered:
        time.sleep(0.5)
    return answered, ScoringRecord.objects.filter(shadow=True).count()


def report(results: dict, direct_p50: float, shadow: tuple[int, int], args) -> None:
    print(f"workers: {args.workers} per server; clients: {args.clients} keep-alive connections; "
          f"one-row requests: {args.requests}; 1,000-row requests: {args.big_requests}")
    for label, pair in results.items():
        print(f"\n== {label} per request")
        for name in ("gateway", "mlflow"):
            r = pair[name]
            print(f"{name:8} {r['rps']:8.1f} req/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   ({r['n']} requests)")
        g, m = pair["gateway"], pair["mlflow"]
        print(f"gateway / mlflow: {g['rps'] / m['rps']:.2f}x the requests per second, "
              f"p50 {g['p50_ms'] / m['p50_ms']:.2f}x, p99 {g['p99_ms'] / m['p99_ms']:.2f}x")
    print(f"\nonnxruntime directly, one row: p50 {direct_p50:.3f} ms; "
          f"gateway one-row p50 - that: {results['1 row']['gateway']['p50_ms'] - direct_p50:.2f} ms")
    if shadow is not None:
        print(f"traces: {shadow[0]} answers, {shadow[1]} challenger shadow scorings recorded by the worker")
    else:
        print("no challenger, no worker: shadow scoring off")


def write_json(results: dict, direct_p50: float, shadow, args) -> None:
    """The figures in bench/benchlib.py's results format (one run per server and request size)."""
    if not args.json:
        return
    backend = "PostgreSQL" if args.database_url else "SQLite"
    out = benchlib.Results("Scoring gateway against mlflow models serve")
    rows = []
    for label, pair in results.items():
        g, m = pair["gateway"], pair["mlflow"]
        rows.append([label, *(benchlib.runs([r[key]], unit, 1) for r in (g, m)
                              for key, unit in (("rps", "req/s"), ("p50_ms", "ms"), ("p99_ms", "ms"))),
                     benchlib.runs([g["rps"] / m["rps"]], "×")])
    shadow_text = (f"Shadow scoring on: one challenger, a Celery worker recorded {shadow[1]:,} shadow scorings for "
                   f"{shadow[0]:,} answers." if shadow else "No challenger and no Celery worker (shadow scoring off).")
    out.section(
        f"{backend}, {args.workers} workers per server, {args.clients} keep-alive clients",
        text=(f"{args.requests:,} one-row and {args.big_requests:,} 1,000-row requests per server, the sample classifier "
              f"(8 features, ONNX). {shadow_text} onnxruntime called directly on one row: p50 {direct_p50:.3f} ms. "
              "The gateway runs threaded gunicorn workers with persistent database connections "
              "(`DATABASE_CONN_MAX_AGE=600`: a connection per request costs more than the answer); MLflow "
              f"{benchlib.mlflow_version('mlflow-serve-venv', benchlib.MLFLOW_SERVE_REQUIREMENTS)} answers the same "
              "values as its tensor input. The aims: at least twice MLflow's requests per second on one-row "
              "requests, and a one-row p50 within 5 ms of onnxruntime's."),
        columns=["request", "gateway req/s", "gateway p50", "gateway p99", "MLflow req/s", "MLflow p50", "MLflow p99",
                 "gateway ÷ MLflow req/s"],
        rows=rows,
    )
    out.write(args.json)


if __name__ == "__main__":
    sys.exit(main())
