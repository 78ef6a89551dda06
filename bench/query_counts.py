"""Queries and median time of five API requests, measured through the whole Django stack.

Builds a small data set in a database of its own, then for each case prints the SQL queries of
one request (through the test client, middleware and token authentication included) and the
median and 90th percentile of N timed requests:

- ``read_version``: ``GET /api/v1/models/{slug}/versions/{n}/`` of a version in review with two
  sign-offs, a test run of 12 checks and a warm-up, as its owner (Bearer token);
- ``register``: ``POST /api/v1/models/`` then ``POST .../versions/`` with an ONNX upload;
- ``search``: ``GET /api/v1/models/?search=...&page_size=100`` matching 100 models, as an auditor;
- ``reader_list``: ``GET /api/v1/models/?risk_tier=medium&page_size=100`` for a reader holding
  the viewer grant on those 100 models (and on others of another tier);
- ``give_grant``: ``POST /api/v1/models/{slug}/grants/`` giving one person the viewer grant.

    python bench/query_counts.py                       # a fresh SQLite file in /tmp
    python bench/query_counts.py --database-url postgres://postgres@127.0.0.1:5432/gov_bench
    python bench/query_counts.py --show-sql read_version

The PostgreSQL database is wiped (its public schema is dropped and re-created): give it a
database of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = ("read_version", "register", "search", "reader_list", "give_grant")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per case (default 30)")
    parser.add_argument("--show-sql", action="append", default=[], choices=CASES, help="print the SQL of a case")
    return parser.parse_args()


def configure(database_url: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="query-counts-"))
    if not database_url:
        database_url = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = database_url
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    os.environ.setdefault("GOVERNANCE_LOCAL_CACHE", "1")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Test runs and warm-ups queued by the set-up go to an in-memory broker: no worker runs them.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    import django

    django.setup()


def reset_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def build() -> dict:
    """The data set of the five cases; returns what the requests need."""
    from governance.access.services import service_account_get, token_create
    from governance.registry.models import ModelVersion
    from tests import factories
    from workflows.lifecycle.services import agent_transition, signoff_record, version_transition
    from workflows.testsuites.models import CheckResult, TestRun

    alice = factories.make_user("alice", "data_scientist")
    auditor = factories.make_user("audrey", "auditor")
    reader = factories.make_user("reader", "data_scientist")
    reviewers = [factories.make_user(f"reviewer{i}", "validator") for i in range(3)]

    # The version read: in review under the critical tier (three approvals), signed twice.
    model = factories.make_model(alice, name="Credit risk", risk_tier="critical", reviewer=reviewers)
    datasets = factories.make_datasets(alice)
    version = factories.make_version(model, alice, datasets=datasets)
    agent = service_account_get("test-runner")
    version_transition(version=version, name="submit", actor=alice)
    run = TestRun.objects.get(version=version)
    CheckResult.objects.bulk_create(
        CheckResult(run=run, position=i, name=f"check_{i}", kind="performance", measured=0.9, threshold=0.8,
                    comparison="gte", outcome="pass", duration_ms=1.5, details={})
        for i in range(12)
    )
    for name in ("pass_tests", "pass_warmup"):
        agent_transition(version=version, name=name, agent=agent, agent_name="test-runner", annotation="ok")
    for reviewer in reviewers[:2]:
        signoff_record(
            version=ModelVersion.objects.get(pk=version.pk), signer=reviewer, decision="approve",
            annotation="Reviewed the evidence.", password=factories.PASSWORD,
        )

    # 100 models matching the search, 100 medium ones the reader sees, 20 high ones too.
    for i in range(100):
        factories.make_model(alice, name=f"Fraud score {i:03d}", risk_tier="low")
    for i in range(120):
        granted = factories.make_model(alice, name=f"Churn {i:03d}", risk_tier="medium" if i < 100 else "high")
        factories.grant(model=granted, user=reader, role="viewer")
    grantees = [factories.make_user(f"grantee{i}", "data_scientist") for i in range(400)]

    return {
        "alice": token_create(actor=alice, user=alice)[1],
        "auditor": token_create(actor=auditor, user=auditor)[1],
        "reader": token_create(actor=reader, user=reader)[1],
        "version_url": f"/api/v1/models/{model.slug}/versions/{version.number}/",
        "grants_url": f"/api/v1/models/{model.slug}/grants/",
        "datasets": [dataset.pk for dataset in datasets],
        "grantees": [user.username for user in grantees],
    }


def requests_of(case: str, data: dict):
    """An endless supply of requests of ``case``: each a function(client) -> list of responses."""
    from tests import factories

    bearer = {name: {"HTTP_AUTHORIZATION": f"Bearer {data[name]}"} for name in ("alice", "auditor", "reader")}
    onnx = factories.classifier_files()["onnx"]
    counter = iter(range(10**9))

    def read_version(client):
        return [client.get(data["version_url"], **bearer["alice"])]

    def register(client):
        n = next(counter)
        model = client.post(
            "/api/v1/models/",
            {"name": f"Registered {n}", "risk_tier": "medium", "task": "classification"},
            content_type="application/json",
            **bearer["alice"],
        )
        slug = model.json()["slug"]
        upload = factories.upload("model.onnx", onnx)
        version = client.post(
            f"/api/v1/models/{slug}/versions/",
            {"artifact": upload, "training_dataset": data["datasets"][0], "validation_dataset": data["datasets"][1]},
            **bearer["alice"],
        )
        return [model, version]

    def search(client):
        return [client.get("/api/v1/models/?search=fraud+score&page_size=100", **bearer["auditor"])]

    def reader_list(client):
        return [client.get("/api/v1/models/?risk_tier=medium&page_size=100", **bearer["reader"])]

    def give_grant(client):
        username = data["grantees"][next(counter)]
        return [
            client.post(
                data["grants_url"], {"username": username, "role": "viewer"},
                content_type="application/json", **bearer["alice"],
            )
        ]

    return {
        "read_version": read_version, "register": register, "search": search,
        "reader_list": reader_list, "give_grant": give_grant,
    }[case]


def check(case: str, responses) -> None:
    for response in responses:
        if response.status_code not in (200, 201):
            raise SystemExit(f"{case}: HTTP {response.status_code}: {response.content[:300]!r}")
    if case in ("search", "reader_list"):
        assert len(responses[0].json()["results"]) == 100, case


def measure(case: str, data: dict, runs: int, show_sql: bool) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    request = requests_of(case, data)
    check(case, request(client))  # warm: imports, caches, the token's last-used write
    with CaptureQueriesContext(connection) as queries:
        check(case, request(client))
    count = len(queries)
    if show_sql:
        for query in queries.captured_queries:
            print("   ", query["sql"][:400])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        check(case, request(client))
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "queries": count,
        "p50": statistics.median(times),
        "p90": times[min(len(times) - 1, int(len(times) * 0.9))],
    }


def main() -> None:
    args = parse_args()
    configure(args.database_url)
    from django.db import connection

    reset_database()
    print(f"Building the data set ({connection.vendor})...", flush=True)
    data = build()
    print(f"{'case':<14} {'queries':>7} {'p50 ms':>8} {'p90 ms':>8}")
    for case in CASES:
        result = measure(case, data, args.runs, case in args.show_sql)
        print(f"{case:<14} {result['queries']:>7} {result['p50']:>8.1f} {result['p90']:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
