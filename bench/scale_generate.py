"""Generate a large installation, a bank's inventory, with bulk inserts (not the API).

At ``--scale 1``: 10,000 models, 100,000 versions across every lifecycle state (with the
transition history, test runs, warm-ups, authors and sign-offs their state implies), 1,000 users
with global roles in 40 teams, 50,000 grants (and the guardian object permissions they imply),
100,000 notifications, 1,000,000 audit entries that verify, and 10,000,000 prediction traces
for five champion models. ``--quick`` is ``--scale 0.01``.

    python bench/scale_generate.py --quick                      # .run/scale-data/scale-0.01.sqlite3
    python bench/scale_generate.py --database-url postgres://postgres@127.0.0.1:5432/gov_scale_big

SQLite files go to ``$SCALE_DATA_DIR`` (default ``.run/scale-data`` in the project, which git ignores): the
full size takes about 5 GB on SQLite. The target database is wiped first (SQLite: the file is deleted; PostgreSQL: the public schema is
dropped), then migrated. On PostgreSQL, give a URL whose user owns the tables (the migrating
user): audit entries are inserted already numbered and hashed, which only the owner may do; the
portal's own role inserts them unsealed for the seal trigger. The audit hash chain is computed
in Python exactly as ``governance/audit/hashing.py`` does, and the chain head is set to its end,
so ``manage.py verify_audit`` exits 0 (it is run at the end unless ``--no-verify``).

Names the benchmark (``bench/scale_bench.py``) relies on:

- ``auditor``: sees every model; ``scientist``: a data scientist with a few hundred grants
  (direct, and through the team ``team-00``); ``validator``: a validator with reviewer grants on
  a few hundred models, whose review queue and inbox are full;
- ``model-00000``: a model with 50 versions and a champion; ``model-00000`` to ``model-00004``
  carry the prediction traces (their champion's answers, and their challenger's shadow scores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = Path(os.environ.get("SCALE_DATA_DIR", ROOT / ".run" / "scale-data"))

# Sizes at scale 1.
FULL = {
    "models": 10_000,
    "versions": 100_000,
    "users": 1_000,
    "grants": 50_000,
    "audit": 1_000_000,
    "notifications": 100_000,
    "traces": 10_000_000,
}
TEAMS = 40
TRACED_MODELS = 5
BIG_MODEL_VERSIONS = 50
SUBJECT_DIRECT_GRANTS = 250
SUBJECT_TEAM_GRANTS = 60
VALIDATOR_REVIEW_GRANTS = 300
UTC = dt_timezone.utc


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="default: a SQLite file under $SCALE_DATA_DIR")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor (1 = a large bank)")
    parser.add_argument("--quick", action="store_true", help="scale 0.01")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", default="", help="write the timings in the benchmark results format")
    parser.add_argument("--no-verify", action="store_true", help="skip manage.py verify_audit at the end")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale = 0.01
    return args


def sizes_for(scale: float) -> dict:
    sizes = {name: max(1, int(round(value * scale))) for name, value in FULL.items()}
    # Floors that keep the named subjects meaningful at small scales.
    sizes["models"] = max(sizes["models"], 60)
    sizes["users"] = max(sizes["users"], 60)
    sizes["versions"] = max(sizes["versions"], sizes["models"] * 3 + BIG_MODEL_VERSIONS)
    sizes["grants"] = max(sizes["grants"], sizes["models"] * 5)
    return sizes


def default_url(scale: float) -> str:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DATA_DIR / f'scale-{scale:g}.sqlite3'}"


def configure(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    os.environ.setdefault("GOVERNANCE_LOCAL_CACHE", "1")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def wipe(database_url: str) -> None:
    """An empty database: the SQLite file removed, or PostgreSQL's public schema re-created
    (the database itself created when missing)."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url[len("sqlite:///"):])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(database_url)
    params = {"host": config["HOST"] or None, "port": config["PORT"] or None, "user": config["USER"] or None,
              "password": config["PASSWORD"] or None}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone():
            admin.execute(f'CREATE DATABASE "{config["NAME"]}"')
    with psycopg.connect(dbname=config["NAME"], autocommit=True, **params) as db:
        db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")


# --- Writing rows in bulk ------------------------------------------------------------------------


class Loader:
    """Rows straight into tables: executemany in one transaction on SQLite, COPY on PostgreSQL."""

    def __init__(self):
        from django.db import connection

        self.connection = connection
        self.vendor = connection.vendor
        self.counts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        if self.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -1000000")  # 1 GB of page cache while loading
                cursor.execute("PRAGMA synchronous = OFF")

    def when(self, value: datetime):
        """A time as the column takes it (SQLite: Django's naive UTC text)."""
        if self.vendor == "sqlite":
            return str(value.astimezone(UTC).replace(tzinfo=None))
        return value

    def insert(self, table: str, columns: list[str], rows, label: str | None = None) -> int:
        from django.db import transaction

        started = time.perf_counter()
        count = 0
        with transaction.atomic(), self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                sql = f'COPY "{table}" ({", ".join(columns)}) FROM STDIN'
                with cursor.cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            else:
                sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
                raw = cursor.cursor
                batch = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= 20000:
                        raw.executemany(sql, batch)
                        count += len(batch)
                        batch = []
                if batch:
                    raw.executemany(sql, batch)
                    count += len(batch)
        label = label or table
        self.counts[label] = self.counts.get(label, 0) + count
        self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
        print(f"    {label}: {count:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        return count

    def insert_model(self, model, dicts, label: str | None = None) -> int:
        """Rows of a Django model given as {attname: value}; other fields take their default."""
        from itertools import chain

        from django.db import models as m

        dicts = iter(dicts)
        first = next(dicts, None)
        if first is None:
            return 0
        dicts = chain([first], dicts)
        pk = model._meta.pk
        # An id not given is the database's to number.
        fields = [field for field in model._meta.concrete_fields if field is not pk or pk.attname in first]
        columns = [f'"{field.column}"' for field in fields]
        plan = []
        for field in fields:
            default = field.get_default() if field.has_default() else (None if field.null else None)
            if isinstance(field, m.CharField | m.TextField) and not field.has_default() and not field.null:
                default = ""
            kind = "json" if isinstance(field, m.JSONField) else ("dt" if isinstance(field, m.DateTimeField) else "")
            if isinstance(field, m.DateTimeField) and (field.auto_now or field.auto_now_add):
                default = NOW
            plan.append((field.attname, default, kind))

        def rows():
            for values in dicts:
                row = []
                for attname, default, kind in plan:
                    value = values.get(attname, default)
                    if kind == "json":
                        value = json.dumps(value if value is not None else default)
                    elif kind == "dt" and value is not None:
                        value = self.when(value)
                    row.append(value)
                yield row

        return self.insert(model._meta.db_table, columns, rows(), label or model._meta.label)


NOW = datetime.now(UTC).replace(microsecond=0)


# --- The lifecycle paths -------------------------------------------------------------------------

# name, from, to, who ("human", "agent", "reviewer", "operator")
STEP = {
    "submit": ("draft", "testing", "human"),
    "pass_tests": ("testing", "warming_up", "agent"),
    "fail_tests": ("testing", "tests_failed", "agent"),
    "pass_warmup": ("warming_up", "in_review", "agent"),
    "fail_warmup": ("warming_up", "warmup_failed", "agent"),
    "approve": ("in_review", "approved", "reviewer"),
    "reject": ("in_review", "rejected", "reviewer"),
    "request_changes": ("in_review", "changes_requested", "reviewer"),
    "withdraw": (None, "withdrawn", "human"),
    "promote_to_challenger": ("approved", "challenger", "operator"),
    "promote_to_champion": ("challenger", "champion", "operator"),
    "retire": (None, "retired", "operator"),
}
REVIEWED = ["submit", "pass_tests", "pass_warmup"]
PATHS = {
    "draft": [],
    "testing": ["submit"],
    "tests_failed": ["submit", "fail_tests"],
    "warming_up": ["submit", "pass_tests"],
    "warmup_failed": ["submit", "pass_tests", "fail_warmup"],
    "in_review": REVIEWED,
    "changes_requested": REVIEWED + ["request_changes"],
    "approved": REVIEWED + ["approve"],
    "rejected": REVIEWED + ["reject"],
    "challenger": REVIEWED + ["approve", "promote_to_challenger"],
    "champion": REVIEWED + ["approve", "promote_to_challenger", "promote_to_champion"],
    "retired": REVIEWED + ["approve", "retire"],
    "retired_champion": REVIEWED + ["approve", "promote_to_challenger", "promote_to_champion", "retire"],
    "withdrawn": ["submit", "withdraw"],
}
EARLIER_STATES = ["retired_champion", "retired_champion", "retired", "rejected", "withdrawn", "tests_failed",
                  "changes_requested", "warmup_failed"]
NEWEST_STATES = ["draft", "testing", "in_review", "in_review", "in_review", "approved", "challenger",
                 "changes_requested", "tests_failed", "warmup_failed", "warming_up", "withdrawn", "rejected"]


def plan_states(rng: random.Random, count: int, *, champion: bool, challenger: bool) -> list[str]:
    """States of versions 1..count of one model (oldest first): at most one champion."""
    states = [rng.choice(EARLIER_STATES) for _ in range(count)]
    if champion:
        tail = 1 + (1 if challenger else 0) + rng.randint(0, 1)
        champion_at = max(0, count - tail)
        states[champion_at] = "champion"
        after = list(range(champion_at + 1, count))
        for index in after:
            states[index] = rng.choice(["withdrawn", "rejected", "tests_failed", "draft"])
        if challenger and after:
            states[after[0]] = "challenger"
        if len(after) > 1 or (after and not challenger):
            states[count - 1] = rng.choice(NEWEST_STATES)
    else:
        states[count - 1] = rng.choice(NEWEST_STATES)
    return states


# --- The generator -------------------------------------------------------------------------------


def generate(sizes: dict, seed: int) -> dict:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, Permission

    from governance.access.models import ModelGrant, User
    from governance.access.roles import OBJECT_ROLE_PERMISSIONS, GlobalRole, ObjectRole
    from governance.audit.hashing import canonical_data, content_hash
    from governance.audit.models import GENESIS_HASH, AuditEvent, ChainHead
    from governance.registry.models import (
        Dataset,
        MLModel,
        MLModelGroupObjectPermission,
        MLModelUserObjectPermission,
        ModelVersion,
    )
    from workflows.lifecycle.models import ApprovalPolicy, SignOff, TransitionRecord, VersionAuthor
    from workflows.notifications.models import Notification, NotificationEvent
    from workflows.testsuites.checks import check_name, default_checks
    from workflows.testsuites.models import CheckResult, ScoringRecord, TestRun, WarmupRun

    rng = random.Random(seed)
    load = Loader()
    started = time.perf_counter()
    t0 = NOW - timedelta(days=730)

    # --- People ------------------------------------------------------------------------------
    password = make_password("scale-password-not-used")
    roles = {group.name: group.pk for group in Group.objects.filter(name__in=GlobalRole.values)}
    n_users = sizes["users"]
    named = {0: "scientist", 1: "auditor", 2: "validator", 3: "operator", 4: "admin"}
    users, role_of = [], {}
    for i in range(n_users):
        pk = i + 1
        username = named.get(i, f"user{i:05d}")
        if i in (1,) or i % 50 == 13:
            role = GlobalRole.AUDITOR
        elif i == 2 or i % 5 == 2:
            role = GlobalRole.VALIDATOR
        elif i == 3 or i % 10 == 8:
            role = GlobalRole.OPERATOR
        elif i == 4:
            role = GlobalRole.ADMIN
        else:
            role = GlobalRole.DATA_SCIENTIST
        role_of[pk] = role
        users.append({
            "id": pk, "username": username, "email": f"{username}@bank.example", "password": password,
            "first_name": username.capitalize(), "last_name": f"Person {i}", "is_active": True,
            "is_staff": role == GlobalRole.ADMIN, "is_superuser": False, "date_joined": t0,
            "is_service_account": False,
        })
    gateway_caller = n_users + 1
    users.append({"id": gateway_caller, "username": "core-banking", "email": "", "password": "!",
                  "first_name": "", "last_name": "", "is_active": True, "is_staff": False,
                  "is_superuser": False, "date_joined": t0, "is_service_account": True})
    load.insert_model(User, users)
    teams = [{"id": 1000 + i, "name": f"team-{i:02d}"} for i in range(TEAMS)]
    load.insert_model(Group, teams)
    team_of = {pk: 1000 + rng.randrange(TEAMS) for pk in role_of}
    team_of[1] = 1000  # the scientist's team
    membership = User.groups.through
    member_rows = [{"user_id": pk, "group_id": roles[role]} for pk, role in role_of.items()]
    member_rows += [{"user_id": pk, "group_id": team} for pk, team in team_of.items()]
    load.insert_model(membership, member_rows, "user groups")
    by_role: dict[str, list[int]] = {}
    for pk, role in role_of.items():
        by_role.setdefault(role, []).append(pk)
    scientists, validators, operators = by_role[GlobalRole.DATA_SCIENTIST], by_role[GlobalRole.VALIDATOR], by_role[GlobalRole.OPERATOR]
    username_of = {row["id"]: row["username"] for row in users}

    # --- Models, datasets ----------------------------------------------------------------------
    n_models = sizes["models"]
    tiers = ["low", "medium", "high", "critical"]
    models = []
    for i in range(n_models):
        models.append({
            "id": i + 1, "name": f"{rng.choice(['Credit', 'Fraud', 'Churn', 'AML', 'Pricing', 'Collections'])} "
                                  f"{rng.choice(['scorecard', 'detector', 'propensity', 'limit', 'forecast'])} {i:05d}",
            "slug": f"model-{i:05d}", "description": f"Governed model number {i} of the bank's inventory.",
            "task": "classification" if i % 4 else "regression", "risk_tier": tiers[i % 4],
            "risk_tier_status": "confirmed" if i % 3 else "proposed",
            "created_by_id": 1 if i < TRACED_MODELS else rng.choice(scientists),
            "created_at": t0 + timedelta(minutes=i), "last_version_number": 0,
        })
    datasets = []
    columns = [{"name": f"x{k}", "type": "float"} for k in range(4)] + [{"name": "y", "type": "integer"}]
    for d in range(20):
        datasets.append({"id": d + 1, "name": f"Portfolio extract {d}", "sha256": hashlib.sha256(b"%d" % d).hexdigest(),
                         "path": f"datasets/{d}.csv", "size": 1_000_000, "rows": 10_000, "columns": columns,
                         "target": "y", "uploaded_by_id": rng.choice(scientists), "created_at": t0})
    load.insert_model(Dataset, datasets)

    # Versions per model: 50 for model-00000 (and every 200th), the rest spread to the total.
    n_versions = sizes["versions"]
    counts = [0] * n_models
    for i in range(0, n_models, 200):
        counts[i] = BIG_MODEL_VERSIONS
    rest = [i for i in range(n_models) if not counts[i]]
    remaining = n_versions - sum(counts)
    base, extra = divmod(remaining, len(rest))
    for position, i in enumerate(rest):
        counts[i] = max(1, base + (1 if position < extra else 0))
    # Some spread around the mean, keeping the total.
    for _ in range(len(rest)):
        a, b = rng.choice(rest), rng.choice(rest)
        if counts[a] > 2 and counts[b] < 3 * base:
            counts[a] -= 1
            counts[b] += 1
    for model, count in zip(models, counts):
        model["last_version_number"] = count
    load.insert_model(MLModel, models)

    suites = {(task, tier): default_checks(task=task, risk_tier=tier)
              for task in ("classification", "regression") for tier in tiers}
    policies = dict(ApprovalPolicy.objects.values_list("risk_tier", "required_approvals")) or {t: 2 for t in tiers}
    input_schema = columns[:4]
    version_rows, transitions, authors, signoffs, test_runs, check_rows, warmups = [], [], [], [], [], [], []
    version_id = transition_id = run_id = 0
    champion_of: dict[int, int] = {}
    challenger_of: dict[int, int] = {}
    in_review: list[tuple[int, int]] = []  # (version id, model id)
    versions_of: dict[int, list[tuple[int, int, str]]] = {}
    for model, count in zip(models, counts):
        index = model["id"] - 1
        traced = index < TRACED_MODELS
        states = plan_states(rng, count, champion=traced or rng.random() < 0.7, challenger=traced or rng.random() < 0.2)
        owner = model["created_by_id"]
        at = model["created_at"] + timedelta(hours=1)
        suite = suites[(model["task"], model["risk_tier"])]
        span = (NOW - timedelta(days=2) - at) / max(count, 1)
        for number, planned in enumerate(states, start=1):
            version_id += 1
            submitter = owner if rng.random() < 0.6 else rng.choice(scientists)
            created = at + span * (number - 1)
            path = PATHS[planned]
            state = "retired" if planned == "retired_champion" else planned
            step_at = created
            state_changed = created
            signers = [v for v in rng.sample(validators, min(len(validators), 4)) if v not in (submitter, owner)]
            submit_record = warm_record = None
            for name in path:
                transition_id += 1
                step_at = step_at + timedelta(minutes=rng.randint(5, 600))
                source, target, who = STEP[name]
                if source is None:
                    source = transitions[-1]["to_state"] if transitions and transitions[-1]["version_id"] == version_id else "draft"
                actor, kind, agent = submitter, "human", ""
                if who == "agent":
                    actor, kind, agent = None, "agent", "test-runner" if "tests" in name else "warmup-runner"
                elif who == "reviewer":
                    actor = signers[0] if signers else validators[0]
                elif who == "operator":
                    actor = rng.choice(operators)
                transitions.append({
                    "id": transition_id, "version_id": version_id, "name": name, "from_state": source,
                    "to_state": target, "actor_id": actor, "actor_kind": kind, "agent_name": agent,
                    "annotation": "" if who == "agent" else f"{name.replace('_', ' ').capitalize()}.",
                    "policy": {"risk_tier": model["risk_tier"], "required_approvals": policies.get(model["risk_tier"], 2)}
                    if name == "submit" else {},
                    "details": {}, "at": step_at,
                })
                state_changed = step_at
                if name == "submit":
                    submit_record = transition_id
                if name == "pass_tests":
                    warm_record = transition_id
            if "submit" in path:
                submitted_at = transitions[-len(path)]["at"]
                authors.append({"version_id": version_id, "user_id": submitter, "role": "uploader", "at": submitted_at})
                authors.append({"version_id": version_id, "user_id": submitter, "role": "submitter", "at": submitted_at})
                if owner != submitter:
                    authors.append({"version_id": version_id, "user_id": owner, "role": "owner", "at": submitted_at})
                run_id += 1
                status = "running" if state == "testing" else ("failed" if "fail_tests" in path else "passed")
                test_runs.append({
                    "id": run_id, "version_id": version_id, "sequence": 1, "trigger_record_id": submit_record,
                    "status": status, "attempt": 1, "queued_at": submitted_at, "enqueued_at": submitted_at,
                    "started_at": submitted_at, "finished_at": None if status == "running" else submitted_at + timedelta(minutes=3),
                    "heartbeat_at": submitted_at, "worker": "worker-1", "config_snapshot": suite,
                    "checks_total": len(suite), "checks_done": 0 if status == "running" else len(suite),
                })
                if status != "running":
                    failed = status == "failed"
                    for position, spec in enumerate(suite):
                        threshold = spec.get("threshold")
                        miss = failed and position == 0
                        measured = None if threshold is None else (
                            threshold * (0.9 if miss else 1.1) if spec.get("comparison", ">=") == ">=" else threshold * 0.5)
                        check_rows.append({
                            "run_id": run_id, "position": position, "name": check_name(spec), "kind": spec["kind"],
                            "measured": measured, "threshold": threshold, "comparison": spec.get("comparison", ""),
                            "outcome": "failed" if miss else "passed", "duration_ms": 12.5, "details": {},
                        })
            if warm_record is not None:
                status = "running" if state == "warming_up" else ("failed" if "fail_warmup" in path else "passed")
                warmups.append({
                    "version_id": version_id, "trigger_record_id": warm_record, "status": status, "attempt": 1,
                    "queued_at": state_changed, "started_at": state_changed,
                    "finished_at": None if status == "running" else state_changed, "source": "validation",
                    "rows": 500, "agreement": 0.97 if status == "passed" else 0.6, "psi": 0.02,
                    "latency": {"new": {"p50_ms": 1.2, "p95_ms": 2.5}}, "outcome_reasons": [],
                })
            decision_step = next((name for name in path if STEP[name][2] == "reviewer"), None)
            if decision_step or state == "in_review":
                wanted = policies.get(model["risk_tier"], 2) if decision_step == "approve" else (
                    1 if decision_step else rng.randint(0, 1))
                decision = {"approve": "approve", "reject": "reject", "request_changes": "request_changes"}.get(decision_step, "approve")
                for signer in signers[:wanted]:
                    signoffs.append({
                        "version_id": version_id, "signer_id": signer, "signer_username": username_of[signer],
                        "signer_full_name": f"{username_of[signer].capitalize()} Reviewer", "decision": decision,
                        "meaning": "Reviewed and approved for production use" if decision == "approve" else "Reviewed",
                        "annotation": "Evidence reviewed.", "artifact_sha256": f"{version_id:064x}",
                        "policy": {"risk_tier": model["risk_tier"]}, "at": state_changed,
                    })
            version_rows.append({
                "id": version_id, "model_id": model["id"], "number": number, "state": state,
                "artifact_sha256": f"{version_id:064x}", "artifact_path": f"artifacts/{version_id:064x}",
                "artifact_size": 120_000, "artifact_filename": "model.onnx", "format": "onnx",
                "input_schema": input_schema, "artifact_details": {"opset": 17},
                "training_dataset_id": 1 + (model["id"] % 20), "validation_dataset_id": 1 + ((model["id"] + 1) % 20),
                "code_repository": "https://git.bank.example/ml/models", "code_commit": f"{version_id:040x}",
                "note": f"Version {number}.", "submitted_by_id": submitter, "created_at": created,
                "state_changed_at": state_changed, "was_champion": planned in ("champion", "retired_champion"),
            })
            versions_of.setdefault(model["id"], []).append((version_id, number, state))
            if state == "champion":
                champion_of[model["id"]] = version_id
            elif state == "challenger":
                challenger_of.setdefault(model["id"], version_id)
            elif state == "in_review":
                in_review.append((version_id, model["id"]))
        if len(version_rows) >= 50_000:
            load.insert_model(ModelVersion, version_rows)
            version_rows = []
    load.insert_model(ModelVersion, version_rows)
    load.insert_model(TransitionRecord, transitions)
    load.insert_model(VersionAuthor, authors)
    load.insert_model(TestRun, test_runs)
    load.insert_model(CheckResult, check_rows)
    load.insert_model(WarmupRun, warmups)
    load.insert_model(SignOff, signoffs)
    n_transitions = len(transitions)
    del transitions, authors, test_runs, check_rows, warmups

    # --- Grants ------------------------------------------------------------------------------
    grants: dict[tuple, dict] = {}

    def grant(model_id, role, user_id=None, group_id=None):
        key = (model_id, role, user_id, group_id)
        if key not in grants:
            grants[key] = {"model_id": model_id, "role": role, "user_id": user_id, "group_id": group_id,
                           "granted_by_id": None, "created_at": t0}

    for model in models:
        grant(model["id"], ObjectRole.OWNER, user_id=model["created_by_id"])
    model_ids = [model["id"] for model in models]
    direct = min(SUBJECT_DIRECT_GRANTS, n_models // 3)
    for model_id in rng.sample(model_ids, direct):
        grant(model_id, rng.choice([ObjectRole.VIEWER, ObjectRole.CONTRIBUTOR]), user_id=1)
    for model_id in rng.sample(model_ids, min(SUBJECT_TEAM_GRANTS, n_models // 10)):
        grant(model_id, ObjectRole.VIEWER, group_id=1000)
    # The validator reviews the models with versions in review first, then others.
    review_models = list(dict.fromkeys(model_id for _, model_id in in_review))
    rng.shuffle(review_models)
    reviewed = review_models[: min(VALIDATOR_REVIEW_GRANTS, n_models // 3) // 2]
    reviewed += rng.sample(model_ids, min(VALIDATOR_REVIEW_GRANTS, n_models // 3) - len(reviewed))
    for model_id in reviewed:
        grant(model_id, ObjectRole.REVIEWER, user_id=3)
    for model_id in model_ids:  # every model has a reviewer and an operator
        grant(model_id, ObjectRole.REVIEWER, user_id=rng.choice(validators))
        grant(model_id, ObjectRole.OPERATOR, user_id=rng.choice(operators))
    others = [pk for pk in role_of if pk not in (1, 2, 3)]
    object_roles = list(ObjectRole.values)
    while len(grants) < sizes["grants"]:
        model_id = rng.choice(model_ids)
        if rng.random() < 0.1:
            grant(model_id, rng.choice(object_roles), group_id=1000 + rng.randrange(1, TEAMS))
        else:
            grant(model_id, rng.choice(object_roles), user_id=rng.choice(others))
    load.insert_model(ModelGrant, grants.values())
    perm_ids = dict(Permission.objects.filter(content_type__app_label="registry", content_type__model="mlmodel")
                    .values_list("codename", "id"))
    user_perms, group_perms = set(), set()
    for model_id, role, user_id, group_id in grants:
        for codename in OBJECT_ROLE_PERMISSIONS[role]:
            if user_id:
                user_perms.add((user_id, perm_ids[codename], model_id))
            else:
                group_perms.add((group_id, perm_ids[codename], model_id))
    load.insert_model(MLModelUserObjectPermission,
                      ({"user_id": u, "permission_id": p, "content_object_id": m} for u, p, m in sorted(user_perms)))
    load.insert_model(MLModelGroupObjectPermission,
                      ({"group_id": g, "permission_id": p, "content_object_id": m} for g, p, m in sorted(group_perms)))
    n_grants = len(grants)
    del grants, user_perms, group_perms

    # --- Notifications -------------------------------------------------------------------------
    events = [NotificationEvent.APPROVED, NotificationEvent.TESTS_FAILED, NotificationEvent.CHAMPION_CHANGED,
              NotificationEvent.CHANGES_REQUESTED, NotificationEvent.AWAITING_PROMOTION]
    all_versions = [(model_id, vid, number) for model_id, rows in versions_of.items() for vid, number, _ in rows]
    model_slug = {model["id"]: model["slug"] for model in models}

    def notifications():
        n = sizes["notifications"]
        for i in range(n):
            if i % 50 == 0 and in_review:  # the validator's share: review requests
                vid, model_id = in_review[i // 50 % len(in_review)]
                recipient, event, number = 3, NotificationEvent.REVIEW_REQUESTED, None
            else:
                model_id, vid, number = rng.choice(all_versions)
                recipient, event = rng.choice(list(role_of)), rng.choice(events)
            created = t0 + (NOW - t0) * (i / n)
            yield {
                "recipient_id": recipient, "event": event, "model_id": model_id, "version_id": vid,
                "context": {"actor": "validator", "model": model_slug[model_id], "number": number},
                "occasion": f"scale-{i}", "created_at": created,
                "read_at": created + timedelta(hours=2) if rng.random() < 0.7 else None,
                "email_wanted": True, "sent_at": created, "attempts": 1, "last_attempt_at": created,
            }

    load.insert_model(Notification, notifications())

    # --- The audit trail ------------------------------------------------------------------------
    head = ChainHead.objects.filter(pk=1).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if AuditEvent.objects.filter(seq__gt=seq).exists():
        raise SystemExit("the fresh database already has audit entries past its head")
    base_seq, base_prev = (head.base_seq, head.base_prev_hash) if head else (1, GENESIS_HASH)
    n_audit = sizes["audit"]
    audit_start = NOW - timedelta(days=365)
    step = (NOW - timedelta(minutes=5) - audit_start) / n_audit
    user_ids = list(role_of)
    columns = ["seq", "prev_hash", "hash", "at", "kind", "action", "actor_id", "actor_username", "actor_kind",
               "agent_name", "model_slug", "version_number", "object_type", "object_id", "object_repr",
               "remote_addr", "user_agent", "correlation_id", "summary", "data"]
    table_columns = [AuditEvent._meta.get_field(name).column for name in columns]
    state_pairs = [("draft", "testing"), ("testing", "warming_up"), ("warming_up", "in_review"),
                   ("in_review", "approved"), ("approved", "challenger"), ("challenger", "champion")]
    agent_of = {"drift.checked": "drift-monitor", "tests.finished": "test-runner"}
    browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/131.0"

    def audit_rows():
        nonlocal seq, prev
        for i in range(n_audit):
            seq += 1
            at = audit_start + step * i + timedelta(microseconds=rng.randrange(1000))
            pick = rng.random()
            model_id, vid, number = all_versions[rng.randrange(len(all_versions))]
            slug = model_slug[model_id]
            actor = rng.choice(user_ids)
            username = username_of[actor]
            actor_kind, agent = "human", ""
            object_type, object_id, object_repr = "registry.modelversion", str(vid), f"{slug} v{number}"
            if pick < 0.45:
                kind, action, data, summary = "access", "version.viewed", {}, ""
            elif pick < 0.55:
                kind, action, data, summary = "access", "model.viewed", {}, ""
                number, object_type, object_id, object_repr = None, "registry.mlmodel", str(model_id), slug
            elif pick < 0.72:
                source, target = state_pairs[i % len(state_pairs)]
                kind, action, summary = "transition", "version.transition", f"{source} to {target}"
                data = {"from_state": source, "to_state": target, "name": "step"}
            elif pick < 0.77:
                kind, action, data, summary = "signoff", "version.signed", {"decision": "approve"}, "Approved."
            elif pick < 0.87:
                kind, action, summary = "change", "registry.mlmodel.updated", ""
                data = {"changes": {"description": ["Old text.", "New text."]}}
                number, object_type, object_id, object_repr = None, "registry.mlmodel", str(model_id), slug
            elif pick < 0.95:
                kind, action, data, summary = "login", "login.succeeded", {}, ""
                slug, number, object_type, object_id, object_repr = "", None, "access.user", str(actor), username
            else:
                action = "drift.checked" if pick < 0.98 else "tests.finished"
                kind, data, summary = "agent", {"psi": 0.03}, "Checked."
                actor, username, actor_kind, agent = None, "", "agent", agent_of[action]
            values = [seq, prev, at, kind, action, actor, username, actor_kind, agent, slug, number, object_type,
                      object_id, object_repr, f"10.{i % 250}.{i % 199}.{i % 97}", browser if actor_kind == "human" else "",
                      f"{i:032x}", summary, canonical_data(data)]
            digest = content_hash(values)
            row = [values[0], values[1], digest, load.when(at)] + values[3:]
            prev = digest
            yield row

    load.insert(AuditEvent._meta.db_table, table_columns, audit_rows(), "audit.AuditEvent")
    ChainHead.objects.update_or_create(pk=1, defaults={"seq": seq, "hash": prev, "base_seq": base_seq,
                                                       "base_prev_hash": base_prev})

    # --- Prediction traces ----------------------------------------------------------------------
    traced = [model["id"] for model in models[:TRACED_MODELS]]
    n_traces = sizes["traces"]
    trace_start = NOW - timedelta(days=90)
    pool = []
    for k in range(512):
        values = {f"x{j}": round(rng.gauss(0, 1), 4) for j in range(4)}
        score = round(rng.random(), 4)
        pool.append((json.dumps([values]), json.dumps({"predictions": [int(score > 0.5)],
                                                          "probabilities": [[round(1 - score, 4), score]]})))
    sha_of = {vid: f"{vid:064x}" for vid in list(champion_of.values()) + list(challenger_of.values())}
    trace_columns = ["model_id", "version_id", "trace_id", "inputs", "outputs", "shadow", "at", "artifact_sha256",
                     "rows", "latency_ms", "caller_id", "via_token", "error"]
    trace_table_columns = [ScoringRecord._meta.get_field(name).column for name in trace_columns]

    def trace_rows():
        per_model = n_traces // len(traced)
        written = 0
        tick = (NOW - timedelta(minutes=1) - trace_start) / max(per_model, 1)
        for i in range(per_model):
            at = trace_start + tick * i
            when = load.when(at)
            for model_id in traced:
                if written >= n_traces:
                    return
                champion = champion_of[model_id]
                inputs, outputs = pool[(i + model_id) % 512]
                trace_id = f"{int(at.timestamp() * 1e6):016x}{model_id:04x}{i:012x}"
                yield (model_id, champion, trace_id, inputs, outputs, False, when, sha_of[champion], 1,
                       0.8 + (i % 7) / 10, gateway_caller, "gov_Xk3…", "")
                written += 1
                challenger = challenger_of.get(model_id)
                if challenger and i % 10 == 0 and written < n_traces:
                    yield (model_id, challenger, trace_id, "[]", pool[(i + 3) % 512][1], True, when,
                           sha_of[challenger], 1, 1.1, gateway_caller, "gov_Xk3…", "")
                    written += 1

    load.insert(ScoringRecord._meta.db_table, trace_table_columns, trace_rows(), "gateway traces")

    # --- Sequences and planner statistics --------------------------------------------------------
    from django.core.management.color import no_style
    from django.db import connection

    tables_with_ids = [User, Group, Dataset, MLModel, ModelVersion, TransitionRecord, TestRun, WarmupRun,
                       CheckResult, SignOff, VersionAuthor, ModelGrant, MLModelUserObjectPermission,
                       MLModelGroupObjectPermission, Notification, ScoringRecord, membership]
    analyze_started = time.perf_counter()
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), tables_with_ids):
            cursor.execute(sql)
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA analysis_limit = 2000")
            cursor.execute("ANALYZE")
        else:
            # As autovacuum would leave it: statistics, and the visibility map that lets
            # index-only scans skip the table.
            cursor.execute("VACUUM ANALYZE")
    load.seconds["sequences, ANALYZE / VACUUM"] = time.perf_counter() - analyze_started
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "counts": load.counts,
        "table_seconds": load.seconds,
        "summary": {
            "users": n_users, "models": n_models, "versions": version_id, "transitions": n_transitions,
            "grants": n_grants, "audit": n_audit, "traces": load.counts.get("gateway traces", 0),
            "notifications": load.counts.get("notifications.Notification", 0),
        },
    }


def verify_audit() -> tuple[int, float, str]:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    started = time.perf_counter()
    try:
        call_command("verify_audit", stdout=out, stderr=out)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, time.perf_counter() - started, out.getvalue().strip()


def main(argv=None) -> int:
    args = parse_args(argv)
    url = args.database_url or default_url(args.scale)
    sizes = sizes_for(args.scale)
    wipe(url)
    configure(url)
    from django.core.management import call_command
    from django.db import connection

    print(f"scale {args.scale:g} into {url}: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()), flush=True)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrate_seconds = time.perf_counter() - started
    print(f"migrated in {migrate_seconds:.1f} s", flush=True)
    result = generate(sizes, args.seed)
    for label, count in result["counts"].items():
        print(f"  {label:<40} {count:>12,} rows {result['table_seconds'][label]:8.1f} s")
    print(f"  {'sequences, ANALYZE / VACUUM':<40} {'':>17} {result['table_seconds']['sequences, ANALYZE / VACUUM']:8.1f} s")
    print(f"generated in {result['seconds']:.1f} s", flush=True)
    code, verify_seconds, said = (0, 0.0, "skipped")
    if not args.no_verify:
        code, verify_seconds, said = verify_audit()
        print(f"verify_audit exit {code} in {verify_seconds:.1f} s: {said.splitlines()[0] if said else ''}", flush=True)
    if args.json:
        database = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
        rows = [["migrate", "", round(migrate_seconds, 1)]]
        rows += [[label, count, round(result["table_seconds"][label], 1)] for label, count in result["counts"].items()]
        rows.append(["sequences, ANALYZE / VACUUM", "", round(result["table_seconds"]["sequences, ANALYZE / VACUUM"], 1)])
        rows.append(["all generation", sum(result["counts"].values()), round(result["seconds"], 1)])
        if not args.no_verify:
            rows.append([f"manage.py verify_audit (exit {code})", result["summary"]["audit"], round(verify_seconds, 1)])
        report = {
            "title": "Generating a large installation (bench/scale_generate.py)",
            "sections": [{
                "heading": f"{database}, scale {args.scale:g}",
                "text": "Bulk inserts (executemany on SQLite, COPY on PostgreSQL) of every table, the audit "
                        "hash chain computed in Python; one run. Seconds per table.",
                "columns": ["step", "rows", "seconds"],
                "rows": rows,
            }],
        }
        Path(args.json).write_text(json.dumps(report, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
