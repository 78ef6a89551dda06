"""Benchmark: the API model list at scale (10,000 models, 1,000 users, 50,000 grants).

Builds the data set in a database of its own, then measures ``GET /api/v1/models/`` (first page,
page sizes 50 and 500) for a data scientist holding about 300 grants (direct and through a team
group) and for an auditor (who sees every model). Prints the median and the 90th percentile of
N runs, and the number of SQL queries of one request, which must not grow with the page size.

    python bench/model_list_bench.py                         # a fresh SQLite file in /tmp
    python bench/model_list_bench.py --database-url postgres://postgres@127.0.0.1:5432/gov_bench
    python bench/model_list_bench.py --quick --json results.json   # 1,000 models; bench/benchlib.py's format

The PostgreSQL database is wiped (its public schema is dropped and re-created): give it a
database of its own.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import benchlib  # noqa: E402

MODELS = 10_000
USERS = 1_000
GRANTS = 50_000
TEAMS = 40
SUBJECT_DIRECT_GRANTS = 250
SUBJECT_TEAM_MODELS = 60  # models shared with the subject's team (about 300 grants in all)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="default: a new SQLite file in a temp folder")
    parser.add_argument("--runs", type=int, default=25, help="timed requests per case and round (default 25)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the measurement (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    benchlib.add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        # A tenth of the data set, fewer requests.
        global MODELS, USERS, GRANTS
        MODELS, USERS, GRANTS = 1_000, 200, 5_000
        args.runs, args.rounds = min(args.runs, 5), min(args.rounds, 2)
    return args


def configure(database_url: str) -> None:
    if not database_url:
        folder = Path(tempfile.mkdtemp(prefix="model-list-bench-"))
        database_url = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    os.environ.setdefault("GOVERNANCE_LOCAL_CACHE", "1")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def reset_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def build(seed: int) -> dict:
    """Bulk-load the data set; returns the two subjects."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, Permission
    from django.db import transaction

    from governance.access.models import ModelGrant, User
    from governance.access.roles import OBJECT_ROLE_PERMISSIONS, GlobalRole, ObjectRole
    from governance.registry.models import (
        Dataset,
        MLModel,
        MLModelGroupObjectPermission,
        MLModelUserObjectPermission,
        ModelVersion,
    )

    rng = random.Random(seed)
    started = time.perf_counter()
    password = make_password("bench-password-not-used")
    with transaction.atomic():
        roles = {group.name: group for group in Group.objects.filter(name__in=GlobalRole.values)}
        users = User.objects.bulk_create(
            [
                User(username=f"user{i:04d}", email=f"user{i:04d}@example.com", first_name=f"User{i}", password=password)
                for i in range(USERS)
            ],
            batch_size=1000,
        )
        users = list(User.objects.order_by("id"))
        subject, auditor = users[0], users[1]
        role_of = {}
        for index, user in enumerate(users):
            if index == 1 or index % 50 == 3:
                role_of[user.pk] = GlobalRole.AUDITOR
            elif index % 10 == 5:
                role_of[user.pk] = GlobalRole.VALIDATOR
            elif index % 10 == 7:
                role_of[user.pk] = GlobalRole.OPERATOR
            else:
                role_of[user.pk] = GlobalRole.DATA_SCIENTIST
        Membership = User.groups.through
        memberships = [Membership(user_id=pk, group_id=roles[role].pk) for pk, role in role_of.items()]
        teams = Group.objects.bulk_create([Group(name=f"team-{i:02d}") for i in range(TEAMS)])
        teams = list(Group.objects.filter(name__startswith="team-").order_by("name"))
        team_of = {}
        for user in users:
            team = rng.choice(teams)
            team_of[user.pk] = team
            memberships.append(Membership(user_id=user.pk, group_id=team.pk))
        Membership.objects.bulk_create(memberships, batch_size=5000)
        scientists = [user for user in users if role_of[user.pk] == GlobalRole.DATA_SCIENTIST and user.pk != auditor.pk]

        tiers = ["low", "medium", "high", "critical"]
        MLModel.objects.bulk_create(
            [
                MLModel(
                    name=f"Model {i:05d}",
                    slug=f"model-{i:05d}",
                    description=f"Benchmark model number {i}.",
                    task="classification" if i % 3 else "regression",
                    risk_tier=tiers[i % 4],
                    created_by=rng.choice(scientists),
                )
                for i in range(MODELS)
            ],
            batch_size=2000,
        )
        models = list(MLModel.objects.order_by("id").only("id", "created_by_id"))

        # Grants: an owner grant for every creator, then random ones up to GRANTS, with the
        # subject holding SUBJECT_DIRECT_GRANTS directly and its team SUBJECT_TEAM_MODELS more.
        grants: dict[tuple, ModelGrant] = {}

        def add(model_id, role, user_id=None, group_id=None):
            key = (model_id, role, user_id, group_id)
            if key not in grants:
                grants[key] = ModelGrant(model_id=model_id, role=role, user_id=user_id, group_id=group_id, granted_by_id=None)

        for model in models:
            add(model.id, ObjectRole.OWNER, user_id=model.created_by_id)
        subject_models = rng.sample(models, SUBJECT_DIRECT_GRANTS)
        for model in subject_models:
            add(model.id, rng.choice([ObjectRole.VIEWER, ObjectRole.CONTRIBUTOR]), user_id=subject.pk)
        subject_team = team_of[subject.pk]
        for model in rng.sample(models, SUBJECT_TEAM_MODELS):
            add(model.id, ObjectRole.VIEWER, group_id=subject_team.pk)
        others = [user for user in users if user.pk not in (subject.pk, auditor.pk)]
        other_teams = [team for team in teams if team.pk != subject_team.pk]
        object_roles = list(ObjectRole.values)
        while len(grants) < GRANTS:
            model = rng.choice(models)
            if rng.random() < 0.1:
                add(model.id, rng.choice(object_roles), group_id=rng.choice(other_teams).pk)
            else:
                add(model.id, rng.choice(object_roles), user_id=rng.choice(others).pk)
        ModelGrant.objects.bulk_create(list(grants.values()), batch_size=5000)

        perm_ids = dict(
            Permission.objects.filter(content_type__app_label="registry", content_type__model="mlmodel").values_list(
                "codename", "id"
            )
        )
        user_perms, group_perms = set(), set()
        for model_id, role, user_id, group_id in grants:
            for codename in OBJECT_ROLE_PERMISSIONS[role]:
                if user_id:
                    user_perms.add((user_id, perm_ids[codename], model_id))
                else:
                    group_perms.add((group_id, perm_ids[codename], model_id))
        MLModelUserObjectPermission.objects.bulk_create(
            [MLModelUserObjectPermission(user_id=u, permission_id=p, content_object_id=m) for u, p, m in user_perms],
            batch_size=5000,
        )
        MLModelGroupObjectPermission.objects.bulk_create(
            [MLModelGroupObjectPermission(group_id=g, permission_id=p, content_object_id=m) for g, p, m in group_perms],
            batch_size=5000,
        )

        # Versions on a third of the models, so the list's champion / newest-version columns
        # have something to find.
        dataset = Dataset.objects.create(
            name="bench", sha256="0" * 64, path="datasets/bench.csv", size=1, rows=1,
            columns=[{"name": "x", "type": "float"}, {"name": "y", "type": "integer"}], target="y",
            uploaded_by=subject,
        )
        versions = []
        for model in models[::3]:
            count = rng.randint(1, 3)
            for number in range(1, count + 1):
                state = "champion" if number == 1 and count > 1 else ("in_review" if number == count else "retired")
                versions.append(
                    ModelVersion(
                        model_id=model.id, number=number, state=state, artifact_sha256=f"{model.id:064d}",
                        artifact_path="artifacts/x.onnx", artifact_size=1, artifact_filename="model.onnx",
                        format="onnx", input_schema=[{"name": "x", "type": "float"}],
                        training_dataset=dataset, validation_dataset=dataset, submitted_by_id=model.created_by_id,
                    )
                )
        ModelVersion.objects.bulk_create(versions, batch_size=2000)
    elapsed = time.perf_counter() - started

    from governance.registry.selectors import models_visible_to

    print(
        f"built {MLModel.objects.count():,} models, {User.objects.count():,} users, "
        f"{ModelGrant.objects.count():,} grants ({len(user_perms) + len(group_perms):,} guardian rows), "
        f"{len(versions):,} versions in {elapsed:.1f} s"
    )
    subject = User.objects.get(pk=subject.pk)
    auditor = User.objects.get(pk=auditor.pk)
    print(
        f"subject {subject.username}: {ModelGrant.objects.filter(user=subject).count()} direct grants + "
        f"{ModelGrant.objects.filter(group=subject_team).count()} through {subject_team.name}; "
        f"sees {models_visible_to(subject).count():,} models; auditor sees {models_visible_to(auditor).count():,}"
    )
    return {"data scientist (~300 grants)": subject, "auditor": auditor}


def measure(subjects: dict, runs: int) -> list[tuple]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from governance.access.services import token_create

    rows = []
    for label, user in subjects.items():
        client = APIClient()
        _, raw = token_create(actor=user, user=user, label="bench")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        for page_size in (50, 500):
            url = f"/api/v1/models/?page_size={page_size}"
            for _ in range(3):  # warm caches and the token's last-used write
                response = client.get(url)
                assert response.status_code == 200, response.content[:300]
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            body = response.json()
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            timings.sort()
            p90 = timings[min(len(timings) - 1, int(len(timings) * 0.9))]
            rows.append((label, page_size, len(body["results"]), body["count"], statistics.median(timings), p90, len(queries)))
    return rows


def main() -> None:
    args = parse_args()
    configure(args.database_url)
    from django.db import connection

    reset_database()
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
    subjects = build(args.seed)
    rounds = [measure(subjects, args.runs) for _ in range(args.rounds)]
    rows = rounds[-1]
    print()
    print(f"GET /api/v1/models/ (first page), {args.runs} runs each, last of {args.rounds} rounds")
    print(f"{'caller':<30} {'page size':>9} {'rows':>5} {'count':>6} {'median ms':>10} {'p90 ms':>8} {'queries':>8}")
    for label, page_size, rows_returned, count, median, p90, queries in rows:
        print(f"{label:<30} {page_size:>9} {rows_returned:>5} {count:>6} {median:>10.1f} {p90:>8.1f} {queries:>8}")
    results = benchlib.Results("The API's model list at scale")
    results.section(
        f"{'PostgreSQL' if connection.vendor == 'postgresql' else 'SQLite'}, {MODELS:,} models, {USERS:,} users, "
        f"{GRANTS:,} grants",
        text=(
            f"`GET /api/v1/models/` (first page) through the whole Django stack with a Bearer token, for a data "
            f"scientist holding about {SUBJECT_DIRECT_GRANTS + SUBJECT_TEAM_MODELS} grants (direct and through a "
            f"team group) and for an auditor, who sees every model. {args.rounds} rounds of {args.runs} requests "
            "each (a value per round: the median and the 90th percentile of its requests); the queries are "
            "counted on one more request. The data set is built with `bulk_create`: users in role and team "
            "groups, an owner grant per model plus random user and group grants kept in step with guardian's "
            "direct foreign-key tables, versions on a third of the models. The number of queries must not grow "
            "with the page size."
        ),
        columns=["caller", "page size", "rows", "visible", "median", "p90", "queries"],
        rows=[
            [label, page_size, rows_returned, count,
             benchlib.runs([r[index][4] for r in rounds], "ms", 1), benchlib.runs([r[index][5] for r in rounds], "ms", 1),
             queries]
            for index, (label, page_size, rows_returned, count, _m, _p, queries) in enumerate(rows)
        ],
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
