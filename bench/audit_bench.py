"""Benchmark of the audit trail.

Measures, on the database of DATABASE_URL (a throw-away test database is created next to it and
dropped at the end; nothing else is touched):

1. a lifecycle transition with and without the trail (auditlog and the hash chain disconnected),
   each kind on its own (the test runner's ``fail_tests``, a validator's ``rerun_tests``): the
   median wall time, and the mean CPU time of this process and of the database backend serving
   it (Linux schedstat), which the machine's other load disturbs less;
2. verification of N entries (default 1,000,000): seconds and entries per second;
3. the audit page filtered by one model over those N entries: median and p95 of the response.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_audit \\
        python bench/audit_bench.py [--entries 1000000] [--transitions 300] [--page-runs 40] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import benchlib  # noqa: E402
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
os.environ.setdefault("DJANGO_ENV", "test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

MODELS = 1000
BLOCKS = 5  # the transition samples are also compared in this many consecutive stretches
KINDS = ["change", "transition", "access", "access", "access", "login", "agent", "annotation"]
ACTIONS = {
    "change": "mlmodel.updated",
    "transition": "version.transition",
    "access": "model.viewed",
    "login": "login.succeeded",
    "agent": "drift.checked",
    "annotation": "version.annotated",
}


def synthetic_rows(count: int):
    """``count`` chained events as tuples in HASHED_FIELDS order plus the hash, hashed as the
    application hashes them (the same canonical form, checked by verification afterwards)."""
    from governance.audit.hashing import content_hash
    from governance.audit.models import GENESIS_HASH

    start = datetime.now(dt_timezone.utc) - timedelta(seconds=count)
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        kind = KINDS[seq % len(KINDS)]
        model = seq % MODELS
        data = (
            '{"changes":{"description":["old text","new text %d"]},"logentry_id":%d}' % (seq, seq)
            if kind == "change"
            else "{}"
        )
        at = start + timedelta(seconds=seq)
        row = (
            seq,
            prev,
            at,
            kind,
            ACTIONS[kind],
            None,
            f"user{seq % 50:02d}",
            "agent" if kind == "agent" else "human",
            "drift-monitor" if kind == "agent" else "",
            f"model-{model:04d}",
            seq % 7 + 1,
            "registry.mlmodel",
            str(model),
            f"Model {model}",
            "10.0.%d.%d" % (seq % 200, seq % 250),
            "Mozilla/5.0 (X11; Linux x86_64) bench",
            "%032x" % (seq // 3),
            "Checked by the nightly job." if kind == "agent" else "",
            data,
        )
        digest = content_hash(row)
        yield row + (digest,)
        prev = digest


def build_trail(count: int) -> float:
    from governance.audit.models import HASHED_FIELDS, AuditEvent, ChainHead

    started = time.perf_counter()
    columns = [AuditEvent._meta.get_field(name).column for name in HASHED_FIELDS] + ["hash"]
    table = AuditEvent._meta.db_table
    last = None
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in synthetic_rows(count):
                    copy.write_row(row)
                    last = row
            cursor.execute(f"ANALYZE {table}")
        else:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            batch = []
            for row in synthetic_rows(count):
                batch.append(row[:2] + (row[2].isoformat(),) + row[3:])
                last = row
                if len(batch) == 10000:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
    ChainHead.objects.update_or_create(pk=1, defaults={"seq": last[0], "hash": last[-1]})
    return time.perf_counter() - started


def bench_verify(count: int) -> dict:
    from governance.audit.verification import chain_verify

    figures = {}
    modes = [("in_database", True), ("in_python", False)] if connection.vendor == "postgresql" else [("in_python", False)]
    for label, in_database in modes:
        started = time.perf_counter()
        result = chain_verify(in_database=in_database)
        elapsed = time.perf_counter() - started
        assert result.ok, result.as_dict()
        assert result.checked >= count, result.checked
        figures[label] = {
            "entries": result.checked,
            "seconds": round(elapsed, 2),
            "entries_per_second": round(result.checked / elapsed),
        }
    return figures


def bench_page(runs: int) -> dict:
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.urls import reverse

    from governance.access.models import User

    auditor = User.objects.create_user("bench-auditor", password="x" * 20)
    auditor.groups.add(Group.objects.get(name="auditor"))
    client = Client()
    client.force_login(auditor)
    url = reverse("audit:event_list")
    timings = []
    for run in range(runs + 3):
        slug = f"model-{(run * 37) % MODELS:04d}"
        started = time.perf_counter()
        response = client.get(url, {"model": slug})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200 and slug.encode() in response.content
        if run >= 3:  # the first requests warm caches and templates
            timings.append(elapsed * 1000)
    timings.sort()
    return {
        "runs": runs,
        "median_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 1),
    }


class TrailDisconnected:
    """Turn the whole trail off: every auditlog registration, and the entry the lifecycle
    services write beside each decision (their ``audit_append`` becomes a no-op)."""

    def __enter__(self):
        from unittest import mock

        from auditlog.registry import auditlog

        self.models = list(auditlog._registry)
        for model in self.models:
            auditlog._disconnect_signals(model)
        self.patch = mock.patch("workflows.lifecycle.services.audit_append", lambda **kwargs: None)
        self.patch.start()
        return self

    def __exit__(self, *exc):
        from auditlog.registry import auditlog

        from governance.audit import registrations

        self.patch.stop()
        for model in self.models:
            auditlog._connect_signals(model)
        registrations.drop_version_update_hook()


def bench_transitions(count: int) -> dict:
    """``count`` transitions each way, with and without the trail, alternating."""
    from governance.access.services import service_account_get
    from governance.registry.models import ModelVersion
    from tests import factories
    from django.utils import timezone

    from workflows.lifecycle.services import agent_transition, version_transition
    from workflows.testsuites.models import ACTIVE_STATUSES, RunStatus, TestRun

    owner = factories.make_user("bench-owner", "data_scientist")
    validator = factories.make_user("bench-validator", "validator")
    agent = service_account_get("test-runner")
    model = factories.make_model(owner, name="Bench model", reviewer=[validator])
    version = factories.make_version(model, owner)
    version_transition(version=version, name="submit", actor=owner)

    server_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            server_pid = cursor.fetchone()[0]

    def server_cpu_ns() -> int:
        """CPU time the database backend serving this connection has used (Linux schedstat,
        nanoseconds); 0 for SQLite, which runs in this process."""
        if server_pid is None:
            return 0
        try:
            with open(f"/proc/{server_pid}/schedstat") as handle:
                return int(handle.read().split()[0])
        except OSError:
            return 0

    def timed(call) -> tuple[float, int]:
        """(wall seconds, CPU nanoseconds of this process and the database backend together)."""
        cpu = time.process_time_ns() + server_cpu_ns()
        started = time.perf_counter()
        call()
        wall = time.perf_counter() - started
        return wall, time.process_time_ns() + server_cpu_ns() - cpu

    def cycle():
        """One timed transition each: testing -> tests_failed (agent), then back (validator)."""
        # As in the portal, the agent fails the tests of a run it has finished: close the run
        # the last submit or rerun queued (untimed). Without this the rerun would find the old
        # run still active and take the error path of a duplicate run, which no real flow does.
        TestRun.objects.filter(version=version, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.FAILED, finished_at=timezone.now()
        )
        fresh = ModelVersion.objects.get(pk=version.pk)
        agent_side = timed(
            lambda: agent_transition(
                version=fresh, name="fail_tests", agent=agent, agent_name="test-runner", annotation="AUC below 0.7."
            )
        )
        human_side = timed(
            lambda: version_transition(version=fresh, name="rerun_tests", actor=validator, annotation="Flaky data fixed.")
        )
        return agent_side, human_side

    for _ in range(10):  # warm-up
        cycle()
    # Alternate cycle by cycle, so that drift in the machine's load hits both sides alike. The two
    # transitions cost differently (the validator's needs permission checks and queues a test
    # run after the commit), so each is reported on its own.
    samples = {side: {"agent": [], "validator": []} for side in ("with", "without")}
    for _ in range(max(1, count // 2)):
        for side in ("with", "without"):
            if side == "without":
                with TrailDisconnected():
                    agent_side, human_side = cycle()
            else:
                agent_side, human_side = cycle()
            samples[side]["agent"].append(agent_side)
            samples[side]["validator"].append(human_side)

    def added(side_samples: dict, name: str) -> tuple[float, float]:
        """(median wall with - without, mean CPU with - without), in ms."""
        walls = {side: statistics.median(w for w, _ in side_samples[side][name]) * 1000 for side in side_samples}
        cpus = {side: statistics.mean(c for _, c in side_samples[side][name]) / 1e6 for side in side_samples}
        return walls["with"] - walls["without"], cpus["with"] - cpus["without"]

    def figures(name: str) -> dict:
        walls = {side: statistics.median(w for w, _ in samples[side][name]) * 1000 for side in samples}
        cpus = {side: statistics.mean(c for _, c in samples[side][name]) / 1e6 for side in samples}
        # The same difference in BLOCKS consecutive stretches of the run: how much the machine's
        # load moved it.
        size = len(samples["with"][name]) // BLOCKS
        blocks = [
            added({side: {name: samples[side][name][i * size : (i + 1) * size]} for side in samples}, name)
            for i in range(BLOCKS)
        ]
        return {
            "wall_median_ms": [round(walls["with"], 3), round(walls["without"], 3)],
            "wall_added_ms": round(walls["with"] - walls["without"], 3),
            "wall_added_ms_range_over_blocks": [round(min(b[0] for b in blocks), 3), round(max(b[0] for b in blocks), 3)],
            "wall_overhead_percent": round((walls["with"] / walls["without"] - 1) * 100, 1),
            "cpu_mean_ms": [round(cpus["with"], 3), round(cpus["without"], 3)],
            "cpu_added_ms": round(cpus["with"] - cpus["without"], 3),
            "cpu_added_ms_range_over_blocks": [round(min(b[1] for b in blocks), 3), round(max(b[1] for b in blocks), 3)],
            "cpu_overhead_percent": round((cpus["with"] / cpus["without"] - 1) * 100, 1),
            "wall_added_ms_blocks": [round(b[0], 3) for b in blocks],
            "cpu_added_ms_blocks": [round(b[1], 3) for b in blocks],
        }

    return {
        "transitions_each": len(samples["with"]["agent"]) * 2,
        "agent_fail_tests": figures("agent"),
        "validator_rerun_tests": figures("validator"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--transitions", type=int, default=300)
    parser.add_argument("--page-runs", type=int, default=40)
    benchlib.add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.entries, args.transitions, args.page_runs = min(args.entries, 5000), min(args.transitions, 40), min(args.page_runs, 10)

    setup_test_environment()
    settings.MEDIA_ROOT = Path(os.environ.get("BENCH_MEDIA_ROOT", "/tmp/audit-bench-media"))
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The validator's rerun queues a test run after its commit: publish it to an in-process
    # broker, not into a real Redis queue that no worker here reads.
    from governance.celery import app as celery_app

    celery_app.conf.broker_url = "memory://"
    # Its own throw-away database, so a test run on the same server is not disturbed.
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        database["TEST"]["NAME"] = f"bench_{database['NAME']}"
    else:
        database["TEST"]["NAME"] = str(ROOT / ".bench-db.sqlite3")
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        report = {"database": connection.vendor, "entries": args.entries}
        report["build_seconds"] = round(build_trail(args.entries), 1)
        print(f"built {args.entries} entries in {report['build_seconds']} s", flush=True)
        report["verify"] = bench_verify(args.entries)
        print(json.dumps(report["verify"]), flush=True)
        report["page_filtered_by_model"] = bench_page(args.page_runs)
        print(json.dumps(report["page_filtered_by_model"]), flush=True)
        # Last, so the transitions append to a chain of N entries as in a long-lived portal.
        report["transition"] = bench_transitions(args.transitions)
        print(json.dumps(report["transition"]), flush=True)
        print(json.dumps(report, indent=2))
        write_json(report, args)
    finally:
        teardown_databases(old_config, verbosity=0)


def write_json(report: dict, args) -> None:
    """The figures in bench/benchlib.py's results format."""
    if not args.json:
        return
    backend = "PostgreSQL" if report["database"] == "postgresql" else "SQLite"
    results = benchlib.Results("The audit trail")
    transition = report["transition"]
    rows = []
    for key, label in (("agent_fail_tests", "test runner's `fail_tests`"), ("validator_rerun_tests", "validator's `rerun_tests`")):
        figures = transition[key]
        rows.append([
            label, f"{figures['wall_median_ms'][0]:.2f} ms", f"{figures['wall_median_ms'][1]:.2f} ms",
            benchlib.runs(figures["wall_added_ms_blocks"], "ms", 3), f"{figures['wall_added_ms']:.2f} ms",
            benchlib.runs(figures["cpu_added_ms_blocks"], "ms", 3), f"{figures['cpu_added_ms']:.2f} ms",
        ])
    results.section(
        f"{backend}: what the trail adds to a transition ({report['entries']:,}-entry chain)",
        text=(
            f"{transition['transitions_each']:,} transitions of each kind on each side, with the trail and with it "
            "switched off (every auditlog registration disconnected, and the entry the lifecycle services write "
            "beside each decision silenced), alternating cycle by cycle. They go through `agent_transition` and "
            "`version_transition`, the services every door calls: the test runner's `fail_tests` (no permission "
            "check, nothing after the commit) and a validator's `rerun_tests` (permission checks, a test run "
            "queued after the commit, to an in-process broker). Wall: median of the whole run with and without; "
            f"what the trail adds, over each of {BLOCKS} consecutive stretches of the run and over the whole run. "
            "CPU: the mean of the bench process plus the database backend serving it (`/proc/<pid>/schedstat`), "
            "which other load on the machine disturbs less."
        ),
        columns=["transition", "wall with", "wall without", "added (stretches)", "added (whole run)",
                 "CPU added (stretches)", "CPU added (whole run)"],
        rows=rows,
    )
    verify_rows = [[mode.replace("_", " "), figures["entries"], f"{figures['seconds']:.2f} s",
                    f"{figures['entries_per_second']:,} entries/s"] for mode, figures in report["verify"].items()]
    page = report["page_filtered_by_model"]
    results.section(
        f"{backend}: verification and the audit page over {report['entries']:,} entries",
        text=(
            f"The chain is filled with {report['entries']:,} entries hashed in Python with the application's canonical "
            f"form (built in {report['build_seconds']} s), then verified ({'in the database and ' if backend == 'PostgreSQL' else ''}"
            f"in Python, `verify_audit --python`). The audit page filtered by one model (about a thousandth of the "
            f"entries): {page['runs']} requests through the Django test client, rendering and the page's own access "
            f"event included: median {page['median_ms']} ms, p95 {page['p95_ms']} ms."
        ),
        columns=["verification", "entries", "time", "rate"],
        rows=verify_rows,
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
