#!/usr/bin/env python
"""Registry operations of the portal against MLflow's tracking server, side by side.

Both servers run under gunicorn with the same number of workers (``--workers``, threaded workers
of one thread, so that both keep connections alive) on loopback, on the same kind of database (a
SQLite file each, or with ``--database-url`` PostgreSQL: the portal in that database, MLflow's
stores in two databases of their own beside it) with artifacts on the local disk, and are
stopped by process id at the end. MLflow runs with its basic-auth app (``default_permission =
NO_PERMISSIONS``, per-model READ grants, credentials cached) and without its job runner; the
portal with persistent database connections (``DATABASE_CONN_MAX_AGE=600``, as a deployment
runs it; MLflow's SQLAlchemy pool keeps its connections too). Every request is authenticated:
a Bearer token on the portal, basic auth on MLflow.

One client (this process) on one keep-alive connection per server, in interleaved rounds (each
round measures both sides back to back, the order alternating), the same operations on both:

* register N models, each with one version whose ONNX bytes (different for every model) are
  uploaded, and three metadata fields. Portal: ``POST /api/v1/models/`` (name, description,
  risk tier, task) and ``POST /api/v1/models/{slug}/versions/`` (multipart upload, checked by the
  intake, with the training and validation datasets). MLflow: create a run, log its two input
  datasets, upload the ONNX file to the run's artifacts, create the registered model with three
  tags, create the version from the run. Also MLflow's cheaper path, where every version points
  at one artifact logged once (registered model and version only);
* give one viewer grant (portal ``POST .../grants/``; MLflow ``registered-models/permissions/create``
  READ), to the reader, on 100 models;
* search a page of 100 models by name;
* read one version (500 times in all);
* as the reader, who may see 100 of the models, list what they may see;
* concurrency: 8 clients reading versions (each on its own connection) with and without 2
  clients uploading new versions at the same time, against the same two web workers.

A ratio is portal ÷ MLflow operations per second within one round. Memory is the resident set
(RSS) of each web worker when idle, after the run.

    python bench/registry_bench.py [--quick] [--json PATH] [--database-url postgres://.../gov_bench]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import median, percentile, runs  # noqa: E402

BASE_DIR = benchlib.BASE_DIR
ADMIN_PASSWORD = "bench-admin-password-1"
READER_PASSWORD = "bench-reader-password-1"
NAME_PREFIX = "bench-model-"


HOW = (
    "Both servers run under gunicorn with the same number of workers (threaded workers of one thread, so "
    "both keep connections alive) on loopback, on the same kind of database (SQLite files, or PostgreSQL: the "
    "portal in one database, MLflow's tracking and auth stores in two others on the same server), with "
    "artifacts on the local disk. The portal runs with persistent database connections "
    "(`DATABASE_CONN_MAX_AGE=600`, as a deployment runs it; MLflow's SQLAlchemy pool keeps its own) and "
    "authenticates a Bearer token on every request; one Celery worker beside it appends the access events "
    "that reads queue, as in a deployment. MLflow runs its basic-auth app with "
    "`default_permission = NO_PERMISSIONS` (with the default READ everyone sees every model), per-model READ "
    "grants, credentials cached (`auth_cache_ttl_seconds`), `--serve-artifacts`, and without its job runner "
    "(`MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`). The portal's upload goes through its intake, which opens and "
    "checks the ONNX file; every model's ONNX bytes differ. The portal's version read records an access event, as every read "
    "of the portal does (queued in Redis, appended to the trail by the worker). A reader's list on the portal is the model list of a "
    "user holding viewer grants on 100 models; on MLflow, the registered-model search of a user holding READ on "
    "the same 100 (MLflow filters the search by permission)."
)


# --- HTTP client -------------------------------------------------------------------------------
class Client:
    """One keep-alive connection (http.client reconnects if the server closes it)."""

    def __init__(self, port: int, headers: dict):
        self.port = port
        self.headers = headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
             expect: tuple = (200, 201)) -> tuple[float, bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = content_type
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # A keep-alive connection the server has just closed: once more on a new one.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        if response.status not in expect:
            # An exception (not SystemExit), so that a pool worker hands it back instead of dying.
            raise RuntimeError(f"{method} {path} on :{self.port}: HTTP {response.status}: {data[:500]!r}")
        return elapsed, data

    def json(self, method: str, path: str, payload=None, **kwargs) -> tuple[float, dict]:
        body = json.dumps(payload).encode() if payload is not None else None
        elapsed, data = self.call(method, path, body, **kwargs)
        return elapsed, json.loads(data) if data else {}


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def basic(username: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def onnx_bytes(base: bytes, tag: str) -> bytes:
    """The sample classifier with its doc string changed: other bytes, the same model."""
    import onnx

    model = onnx.load_from_string(base)
    model.doc_string = f"bench {tag}"
    return model.SerializeToString()


# --- The two sides -------------------------------------------------------------------------------
class Portal:
    name = "portal"

    def __init__(self, port: int, setup: dict):
        self.setup = setup
        self.admin = Client(port, {"Authorization": f"Bearer {setup['owner_token']}"})
        self.reader = Client(port, {"Authorization": f"Bearer {setup['reader_token']}"})
        self.port = port

    def register(self, index: int, artifact: bytes, prefix: str = NAME_PREFIX) -> float:
        name = f"{prefix}{index:05d}"
        total, model = self.admin.json("POST", "/api/v1/models/", {
            "name": name, "description": f"Benchmark model {index}", "risk_tier": "medium", "task": "classification",
        })
        total += self.upload(model["slug"], artifact)
        return total

    def upload(self, slug: str, artifact: bytes, client: Client | None = None) -> float:
        body, content_type = multipart(
            {"training_dataset": self.setup["training"], "validation_dataset": self.setup["validation"],
             "code_ref": "https://git.example.com/bench@3f2a1b9"},
            {"artifact": ("model.onnx", artifact)},
        )
        elapsed, _ = (client or self.admin).call("POST", f"/api/v1/models/{slug}/versions/", body, content_type)
        return elapsed

    def grant(self, index: int) -> float:
        slug = f"{NAME_PREFIX}{index:05d}"
        return self.admin.json("POST", f"/api/v1/models/{slug}/grants/", {"username": "reader", "role": "viewer"})[0]

    def search(self, term: str, expected: int) -> float:
        elapsed, page = self.admin.json("GET", f"/api/v1/models/?{urlencode({'search': term, 'page_size': 100})}")
        assert len(page["results"]) == expected, (len(page["results"]), expected)
        return elapsed

    def read_path(self, index: int, prefix: str = NAME_PREFIX) -> str:
        return f"/api/v1/models/{prefix}{index:05d}/versions/1/"

    def read(self, index: int, prefix: str = NAME_PREFIX) -> float:
        return self.admin.call("GET", self.read_path(index, prefix))[0]

    def reader_list(self, expected: int) -> float:
        elapsed, page = self.reader.json("GET", "/api/v1/models/?page_size=100")
        assert page["count"] == expected and len(page["results"]) == expected, (page["count"], expected)
        return elapsed


class MLflow:
    name = "MLflow"

    def __init__(self, port: int, experiment_id: str, linked_run: dict):
        self.port = port
        self.admin = Client(port, basic("admin", ADMIN_PASSWORD))
        self.reader = Client(port, basic("reader", READER_PASSWORD))
        self.experiment_id = experiment_id
        self.linked_run = linked_run

    def _run_with_artifact(self, client: Client, artifact: bytes) -> tuple[float, dict]:
        total, run = client.json("POST", "/api/2.0/mlflow/runs/create",
                                 {"experiment_id": self.experiment_id, "start_time": int(time.time() * 1000)})
        run = run["run"]["info"]
        elapsed, _ = client.json("POST", "/api/2.0/mlflow/runs/log-inputs", {"run_id": run["run_id"], "datasets": [
            {"dataset": {"name": name, "digest": name[:8], "source_type": "local",
                         "source": json.dumps({"uri": f"file:///data/{name}.csv"})}}
            for name in ("training", "validation")
        ]})
        total += elapsed
        root = run["artifact_uri"].removeprefix("mlflow-artifacts:/").lstrip("/")
        elapsed, _ = client.call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{root}/model/model.onnx", artifact,
                                 "application/octet-stream")
        return total + elapsed, run

    def register(self, index: int, artifact: bytes, prefix: str = NAME_PREFIX) -> float:
        name = f"{prefix}{index:05d}"
        total, run = self._run_with_artifact(self.admin, artifact)
        elapsed, _ = self.admin.json("POST", "/api/2.0/mlflow/registered-models/create", {"name": name, "tags": [
            {"key": "description", "value": f"Benchmark model {index}"},
            {"key": "risk_tier", "value": "medium"}, {"key": "task", "value": "classification"},
        ]})
        total += elapsed
        elapsed, _ = self.admin.json("POST", "/api/2.0/mlflow/model-versions/create", {
            "name": name, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"],
        })
        return total + elapsed

    def register_linked(self, index: int) -> float:
        """A registered model and its version pointing at the artifact logged once."""
        name = f"linked-{index:05d}"
        total, _ = self.admin.json("POST", "/api/2.0/mlflow/registered-models/create", {"name": name, "tags": [
            {"key": "description", "value": f"Benchmark model {index}"},
            {"key": "risk_tier", "value": "medium"}, {"key": "task", "value": "classification"},
        ]})
        elapsed, _ = self.admin.json("POST", "/api/2.0/mlflow/model-versions/create", {
            "name": name, "source": f"{self.linked_run['artifact_uri']}/model", "run_id": self.linked_run["run_id"],
        })
        return total + elapsed

    def upload(self, name: str, artifact: bytes, client: Client | None = None) -> float:
        client = client or self.admin
        total, run = self._run_with_artifact(client, artifact)
        elapsed, _ = client.json("POST", "/api/2.0/mlflow/model-versions/create", {
            "name": name, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"],
        })
        return total + elapsed

    def grant(self, index: int) -> float:
        return self.admin.json("POST", "/api/3.0/mlflow/users/permissions/grant", {
            "username": "reader", "resource_type": "registered_model", "resource_id": f"{NAME_PREFIX}{index:05d}",
            "permission": "READ",
        })[0]

    def search(self, term: str, expected: int) -> float:
        query = urlencode({"filter": f"name LIKE '%{term}%'", "max_results": 100})
        elapsed, page = self.admin.json("GET", f"/api/2.0/mlflow/registered-models/search?{query}")
        assert len(page.get("registered_models", [])) == expected, (len(page.get("registered_models", [])), expected)
        return elapsed

    def read_path(self, index: int, prefix: str = NAME_PREFIX) -> str:
        return f"/api/2.0/mlflow/model-versions/get?name={quote(f'{prefix}{index:05d}')}&version=1"

    def read(self, index: int, prefix: str = NAME_PREFIX) -> float:
        return self.admin.call("GET", self.read_path(index, prefix))[0]

    def reader_list(self, expected: int) -> float:
        elapsed, page = self.reader.json("GET", "/api/2.0/mlflow/registered-models/search?max_results=100")
        got = len(page.get("registered_models", []))
        assert got == expected, (got, expected)
        return elapsed


class Linked:
    """MLflow registering versions that point at one artifact logged once, as a side of its own."""

    name = "MLflow, one logged artifact"

    def __init__(self, mlflow: MLflow):
        self.mlflow = mlflow

    def register(self, index: int, artifact: bytes) -> float:
        return self.mlflow.register_linked(index)


# --- Servers -------------------------------------------------------------------------------------
def postgres_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def recreate_postgres_databases(url: str, names: list[str]) -> None:
    import psycopg

    with psycopg.connect(postgres_url(url, "postgres"), autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')


def portal_env(workdir: Path, database_url: str, redis_port: int) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(workdir / "media"),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        # Persistent database connections, as a deployment runs them (MLflow's pool keeps its own).
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
    }


def portal_setup() -> dict:
    """Migrated database, the owner (a data scientist) and the reader with their tokens, the datasets."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from governance.access.services import token_create
    from tests import factories

    owner = factories.make_user("owner", "data_scientist")
    reader = factories.make_user("reader")
    training, validation = factories.make_datasets(owner)
    _, owner_token = token_create(actor=owner, user=owner, label="bench")
    _, reader_token = token_create(actor=reader, user=reader, label="bench")
    return {
        "owner_token": owner_token, "reader_token": reader_token, "training": training.pk,
        "validation": validation.pk, "onnx": factories.classifier_files()["onnx"],
    }


def start_mlflow(procs: benchlib.Processes, workdir: Path, port: int, workers: int, database_url: str) -> tuple:
    python = benchlib.mlflow_python()
    if database_url:
        base = urlsplit(database_url).path.lstrip("/")
        store, auth = f"{base}_mlflow", f"{base}_mlflow_auth"
        recreate_postgres_databases(database_url, [store, auth])
        store_uri = postgres_url(database_url, store).replace("postgres://", "postgresql+psycopg2://", 1)
        auth_uri = postgres_url(database_url, auth).replace("postgres://", "postgresql+psycopg2://", 1)
    else:
        store_uri, auth_uri = f"sqlite:///{workdir / 'mlflow.db'}", f"sqlite:///{workdir / 'mlflow-auth.db'}"
    ini = workdir / "mlflow-auth.ini"
    ini.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = {auth_uri}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 600\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "GOVERNANCE", "CELERY"))}
    env.update({
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    })
    process, log = procs.spawn(
        [str(python), "-m", "mlflow", "server", "--backend-store-uri", store_uri,
         "--artifacts-destination", str(workdir / "mlflow-artifacts"), "--serve-artifacts",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--app-name", "basic-auth",
         "--gunicorn-opts", "--worker-class gthread --threads 1 --keep-alive 60 --timeout 120"],
        "mlflow.log", env=env, cwd=str(workdir),
    )
    return process, log


# --- Measurement ---------------------------------------------------------------------------------
def timed_round(side, operation, items) -> dict:
    timings = []
    start = time.perf_counter()
    for item in items:
        timings.append(operation(side, item))
    elapsed = time.perf_counter() - start
    return {"timings": timings, "ops": len(timings) / elapsed}


def interleaved(sides: list, operation, items: list, rounds: int) -> dict:
    """{side name: [round results]} with ``items`` split across ``rounds``, sides alternating first."""
    print(f"{time.strftime('%H:%M:%S')} {len(items)} operations on {', '.join(s.name for s in sides)}", flush=True)
    results = {side.name: [] for side in sides}
    size = max(1, -(-len(items) // rounds))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    for number, chunk in enumerate(chunks):
        order = sides if number % 2 == 0 else list(reversed(sides))
        for side in order:
            results[side.name].append(timed_round(side, operation, chunk))
    return results


def figures(results: dict, sides: list) -> list:
    """Cells: p50 and p99 (ms) and ops/s per side, then the ratio of ops/s per round."""
    cells = []
    for side in sides:
        rounds_ = results[side.name]
        cells += [
            runs([median(r["timings"]) * 1000 for r in rounds_], "ms"),
            runs([percentile(r["timings"], 0.99) * 1000 for r in rounds_], "ms"),
            runs([r["ops"] for r in rounds_], "ops/s", 1),
        ]
    if len(sides) == 2:
        a, b = (results[side.name] for side in sides)
        cells.append(runs([x["ops"] / y["ops"] for x, y in zip(a, b)], "×"))
    return cells


def concurrent_reader(args) -> list[float]:
    port, headers, paths, seconds, start_at = args
    client = Client(port, headers)
    client.call("GET", paths[0])
    while time.time() < start_at:
        time.sleep(0.005)
    timings, index, errors = [], 0, 0
    stop = start_at + seconds
    while time.time() < stop:
        try:
            timings.append(client.call("GET", paths[index % len(paths)])[0])
        except (RuntimeError, OSError, http.client.HTTPException):
            errors += 1  # counted and reported; a new connection for the next request
            client = Client(port, headers)
        index += 1
    return timings, errors


def concurrent_uploader(args) -> int:
    kind, port, headers, targets, base, seconds, start_at, setup, experiment_id = args
    client = Client(port, headers)
    side = Portal.__new__(Portal) if kind == "portal" else MLflow.__new__(MLflow)
    side.setup, side.experiment_id = setup, experiment_id
    while time.time() < start_at:
        time.sleep(0.005)
    count, errors, stop = 0, 0, start_at + seconds
    while time.time() < stop:
        target = targets[(count + errors) % len(targets)]
        try:
            side.upload(target, onnx_bytes(base, f"{target}-{os.getpid()}-{count + errors}"), client)
            count += 1
        except (RuntimeError, OSError, http.client.HTTPException):
            errors += 1
            client = Client(port, headers)
    return count, errors


def concurrency(side, kind: str, headers: dict, *, seconds: float, readers: int, uploaders: int, models: int,
                base: bytes, setup: dict, with_uploads: bool, pool) -> dict:
    paths = [side.read_path(i) for i in range(models)]
    start_at = time.time() + 1.0
    reader_jobs = [(side.port, headers, paths[i::readers] or paths, seconds, start_at) for i in range(readers)]
    read_async = pool.map_async(concurrent_reader, reader_jobs)
    uploads = upload_errors = 0
    if with_uploads:
        targets = [f"{NAME_PREFIX}{i:05d}" for i in range(models)]
        upload_jobs = [(kind, side.port, headers, targets[i::uploaders], base, seconds, start_at, setup,
                        getattr(side, "experiment_id", "")) for i in range(uploaders)]
        done = pool.map(concurrent_uploader, upload_jobs)
        uploads, upload_errors = sum(d[0] for d in done), sum(d[1] for d in done)
    read = read_async.get()
    timings = [t for result, _ in read for t in result]
    return {"p50": median(timings) * 1000, "p99": percentile(timings, 0.99) * 1000,
            "ops": len(timings) / seconds, "uploads": uploads / seconds,
            "errors": sum(e for _, e in read) + upload_errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchlib.add_arguments(parser)
    parser.add_argument("--models", type=int, default=None, help="models registered on each side (1,000; quick 30)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (5; quick 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server")
    parser.add_argument("--seconds", type=float, default=None, help="each concurrency phase (10; quick 1.5)")
    parser.add_argument("--database-url", default="", help="PostgreSQL database for the portal (emptied); "
                        "MLflow's stores go to <name>_mlflow and <name>_mlflow_auth beside it")
    parser.add_argument("--without-mlflow", action="store_true", help="the portal's side only")
    args = parser.parse_args()
    models = args.models or (30 if args.quick else 1000)
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = args.seconds or (1.5 if args.quick else 10.0)
    reads = 60 if args.quick else 500
    visible = min(100, models // 2)
    page = min(100, models)
    with_mlflow = not args.without_mlflow

    workdir = Path(tempfile.mkdtemp(prefix="registry-bench-"))
    procs = benchlib.Processes(workdir)
    redis_port, portal_port, mlflow_port = benchlib.free_port(), benchlib.free_port(), benchlib.free_port()
    if args.database_url:
        recreate_postgres_databases(args.database_url, [urlsplit(args.database_url).path.lstrip("/")])
        database_url = args.database_url
    else:
        database_url = f"sqlite:///{workdir / 'portal.sqlite3'}"
    env = portal_env(workdir, database_url, redis_port)
    os.environ.update(env)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    results = benchlib.Results("Registry operations against MLflow")
    results.section(f"{'PostgreSQL' if args.database_url else 'SQLite'}: how it is measured", text=HOW)
    pool = multiprocessing.get_context("fork").Pool(12)
    try:
        procs.spawn([shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", str(workdir)], "redis.log")
        if with_mlflow:
            mlflow_process, mlflow_log = start_mlflow(procs, workdir, mlflow_port, args.workers, args.database_url)
        sys.path.insert(0, str(BASE_DIR))
        setup = portal_setup()
        from django.db import connections

        connections.close_all()
        # The worker a deployment runs beside the web tier: it appends the queued access events
        # (and runs whatever the registrations enqueue), on the same cores as both servers.
        procs.spawn([sys.executable, "-m", "celery", "-A", "governance", "worker", "--pool=solo", "--concurrency=1",
                     "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
                    "worker.log", cwd=str(BASE_DIR), env=env)
        portal_process, portal_log = procs.spawn(
            [sys.executable, "-m", "gunicorn", "governance.wsgi:application", "--bind", f"127.0.0.1:{portal_port}",
             "--workers", str(args.workers), "--worker-class", "gthread", "--threads", "1", "--keep-alive", "60",
             "--timeout", "120"],
            "portal.log", cwd=str(BASE_DIR), env=env,
        )
        benchlib.wait_port(portal_port, portal_process, portal_log)
        portal = Portal(portal_port, setup)
        sides = [portal]
        if with_mlflow:
            benchlib.wait_port(mlflow_port, mlflow_process, mlflow_log)
            admin = Client(mlflow_port, basic("admin", ADMIN_PASSWORD))
            for _ in range(100):  # the auth app answers once its workers have migrated their store
                try:
                    admin.json("POST", "/api/2.0/mlflow/users/create", {"username": "reader", "password": READER_PASSWORD})
                    break
                except (RuntimeError, OSError):
                    admin = Client(mlflow_port, basic("admin", ADMIN_PASSWORD))
                    time.sleep(0.5)
            _, experiment = admin.json("POST", "/api/2.0/mlflow/experiments/create", {"name": "bench"})
            mlflow = MLflow(mlflow_port, experiment["experiment_id"], {})
            _, mlflow.linked_run = mlflow._run_with_artifact(mlflow.admin, setup["onnx"])
            sides.append(mlflow)
        base = setup["onnx"]
        artifacts = [onnx_bytes(base, str(i)) for i in range(models)]
        # Warm both up (first requests load code and open connections), outside the figures.
        for side in sides:
            side.register(0, onnx_bytes(base, "warm"), prefix="warm-up-")
            side.read(0, prefix="warm-up-")

        rows = []
        # MLflow's cheaper path (a version pointing at one artifact logged once) is a third side
        # of the same rounds, so that both comparisons are made within each round.
        linked = [Linked(mlflow)] if with_mlflow else []
        registered = interleaved(sides + linked, lambda side, i: side.register(i, artifacts[i]), list(range(models)), rounds)
        rows.append(["register a model with an uploaded ONNX version", *figures(registered, sides)])
        if with_mlflow:
            both = {"portal": registered["portal"], "MLflow": registered[linked[0].name]}
            rows.append(["register (MLflow: version pointing at one artifact logged once)", *figures(both, sides)])
        granted = interleaved(sides, lambda side, i: side.grant(i), list(range(visible)), rounds)
        rows.append(["give one viewer grant", *figures(granted, sides)])
        searches = 10 if args.quick else 100
        found = interleaved(sides, lambda side, i: side.search(NAME_PREFIX, page), list(range(searches)), rounds)
        rows.append([f"search a page of {page} models by name", *figures(found, sides)])
        read = interleaved(sides, lambda side, i: side.read(7), list(range(reads)), rounds)
        rows.append(["read one version", *figures(read, sides)])
        lists = 10 if args.quick else 100
        listed = interleaved(sides, lambda side, i: side.reader_list(visible), list(range(lists)), rounds)
        rows.append([f"a reader's list ({visible} of {models} models visible)", *figures(listed, sides)])

        columns = ["operation"]
        for side in sides:
            columns += [f"{side.name} p50", f"{side.name} p99", f"{side.name} ops/s"]
        if with_mlflow:
            columns.append("portal ops/s ÷ MLflow ops/s")
        results.section(
            f"{backend}, {models:,} models, {args.workers} gunicorn workers each",
            text=(
                f"One client, one keep-alive connection per server, {rounds} interleaved rounds (a value per round). "
                f"Registrations: {models:,} per side; grants: {visible}; searches: {searches}; "
                f"version reads: {reads}; reader's lists: {lists}. A registration is 2 requests on the portal "
                "(model, then version upload) and 5 on MLflow (run, its inputs, artifact upload, registered "
                "model, version); its p50 and p99 are of the whole registration."
                + ("" if with_mlflow else " MLflow's side was not run (--without-mlflow).")
            ),
            columns=columns, rows=rows,
        )

        # Concurrency: 8 readers, with and without 2 uploaders, against the same workers.
        scenario = {side.name: {"alone": [], "uploads": []} for side in sides}
        for number in range(rounds):
            order = sides if number % 2 == 0 else list(reversed(sides))
            for side in order:
                headers = portal.admin.headers if side is portal else basic("admin", ADMIN_PASSWORD)
                kind = "portal" if side is portal else "mlflow"
                phases = ("alone", "uploads") if number % 2 == 0 else ("uploads", "alone")
                for phase in phases:
                    scenario[side.name][phase].append(concurrency(
                        side, kind, headers, seconds=seconds, readers=8, uploaders=2, models=min(models, 200),
                        base=base, setup=setup, with_uploads=phase == "uploads", pool=pool,
                    ))
        crows = []
        for side in sides:
            alone, busy = scenario[side.name]["alone"], scenario[side.name]["uploads"]
            crows.append([
                side.name,
                runs([r["p50"] for r in alone], "ms"), runs([r["p50"] for r in busy], "ms"),
                runs([b["p50"] / a["p50"] for a, b in zip(alone, busy)], "×"),
                runs([r["ops"] for r in alone], "ops/s", 1), runs([r["ops"] for r in busy], "ops/s", 1),
                runs([b["ops"] / a["ops"] for a, b in zip(alone, busy)], "×"),
                runs([r["uploads"] for r in busy], "uploads/s"),
                sum(r["errors"] for r in alone + busy),
            ])
        results.section(
            f"{backend}, 8 clients reading versions with and without 2 clients uploading, {args.workers} workers",
            text=(
                f"Each client on its own keep-alive connection, {seconds:g} s per phase, {rounds} rounds; the "
                "phases alternate in order round by round. Readers cycle over the first "
                f"{min(models, 200)} models' versions; uploaders add versions to them (the whole upload: "
                "one request on the portal, four on MLflow). The aim: reads slow down by no more than a quarter "
                "(p50 with ÷ without at most 1.25)."
            ),
            columns=["server", "read p50 alone", "read p50 with uploads", "p50 with ÷ alone", "reads/s alone",
                     "reads/s with uploads", "reads/s with ÷ alone", "uploads/s", "failed requests"],
            rows=crows,
        )

        time.sleep(2)
        mrows = []
        for side, process in ((portal, portal_process), *(((mlflow, mlflow_process),) if with_mlflow else ())):
            memory = benchlib.gunicorn_memory(process.pid)
            mrows.append([side.name, f"{median(memory['worker_mib']):.0f} MiB" if memory["worker_mib"] else "?",
                          len(memory["worker_mib"]), f"{memory['total_mib']:.0f} MiB", memory["processes"]])
        results.section(
            f"{backend}, memory when idle after the run",
            text="Resident set (RSS) of each web worker (median of the workers) and of the server's whole process "
                 "tree (gunicorn master, workers and, for MLflow, its launcher).",
            columns=["server", "RSS per web worker", "web workers", "RSS of all its processes", "processes"],
            rows=mrows,
        )
    finally:
        pool.terminate()
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    for section in results.sections:
        print(f"\n== {section['heading']}")
        for row in section.get("rows", []):
            print(" | ".join(str(cell) if not isinstance(cell, dict) else
                             f"{median(cell['runs']):.2f} {cell['unit']}" for cell in row))
    results.write(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
