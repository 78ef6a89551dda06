"""Benchmark: the portal's pages and API lists against a large generated installation.

The generated SQLite database of the size asked for is made first with ``bench/scale_generate.py``
when it is missing; a PostgreSQL one (``--database-url``) must be generated beforehand. Then, with the
real Django stack in-process (the test Client: middleware, sessions, templates, the access
records every page writes), each case is requested in interleaved rounds (one request per case
per round) after a warm-up: the median and min–max time per request, and the SQL queries of one
request. The aim is a median under 100 ms and a number of queries that does not grow with the
data. Last, the memory of one real gunicorn worker (RSS) after it has served each page and API
list a few times.

    python bench/scale_bench.py --quick                       # against .run/scale-data/scale-0.01.sqlite3
    python bench/scale_bench.py                               # against .run/scale-data/scale-1.sqlite3
    python bench/scale_bench.py --database-url postgres://postgres@127.0.0.1:5432/gov_scale_big

The benchmark applies pending migrations to the generated database first (new indexes), and its
requests record access events, as production requests do.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale_generate import DATA_DIR, configure, default_url  # noqa: E402

AIM_MS = 100.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="default: the generated SQLite file of the scale")
    parser.add_argument("--scale", type=float, default=1.0, help="which generated SQLite file (default 1)")
    parser.add_argument("--quick", action="store_true", help="the quick-size database (scale 0.01), fewer rounds")
    parser.add_argument("--runs", type=int, default=0, help="timed rounds (default 15, quick 5)")
    parser.add_argument("--json", default="", help="write the results in the benchmark results format")
    parser.add_argument("--no-rss", action="store_true", help="skip the gunicorn worker's memory")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale = 0.01
    if not args.runs:
        args.runs = 5 if args.quick else 15
    return args


def subjects() -> dict:
    from governance.access.models import User

    return {user.username: user for user in User.objects.filter(username__in=["auditor", "scientist", "validator"])}


def cases(people: dict) -> list[dict]:
    """(label, who, how, url): every page and API list measured."""
    from governance.registry.models import ModelVersion

    big = "model-00000"
    champion = ModelVersion.objects.filter(model__slug=big, state="champion").values_list("number", flat=True).first()
    # A version of a model the scientist sees through a grant (not one they see all of).
    from governance.registry.selectors import models_visible_to

    granted = models_visible_to(people["scientist"]).exclude(slug=big).order_by("slug").first()
    middle = ModelVersion.objects.filter(model=granted).order_by("-number").values_list("number", flat=True).first()
    audited = "model-00042"
    page = []

    def add(label, who, how, url):
        page.append({"label": label, "who": who, "how": how, "url": url})

    add("model list", "auditor", "page", "/models/")
    add("model list", "scientist", "page", "/models/")
    add("model search", "auditor", "page", "/models/?q=fraud")
    add("model search", "scientist", "page", "/models/?q=fraud")
    add("model page, 50 versions", "auditor", "page", f"/models/{big}/")
    add("version page (champion)", "auditor", "page", f"/models/{big}/versions/{champion}/")
    add("version page", "scientist", "page", f"/models/{granted.slug}/versions/{middle}/")
    add("review queue", "validator", "page", "/review/")
    add("audit page, by model", "auditor", "page", f"/audit/?model={audited}")
    add("audit page", "auditor", "page", "/audit/")
    add("inbox", "validator", "page", "/notifications/")
    add("traces page", "auditor", "page", f"/models/{big}/traces/")
    add("GET /api/v1/models/", "auditor", "api", "/api/v1/models/")
    add("GET /api/v1/models/", "scientist", "api", "/api/v1/models/")
    add("GET /api/v1/models/?search=", "auditor", "api", "/api/v1/models/?search=fraud")
    add("GET /api/v1/models/?search=", "scientist", "api", "/api/v1/models/?search=fraud")
    add("GET …/versions/ (50)", "auditor", "api", f"/api/v1/models/{big}/versions/")
    add("GET …/versions/N/history/", "auditor", "api", f"/api/v1/models/{big}/versions/{champion}/history/")
    add("GET …/versions/N/findings/", "auditor", "api", f"/api/v1/models/{big}/versions/{champion}/findings/")
    add("GET …/grants/", "auditor", "api", f"/api/v1/models/{big}/grants/")
    add("GET …/test-suite/proposals/", "auditor", "api", f"/api/v1/models/{big}/test-suite/proposals/")
    add("GET /api/v1/datasets/", "auditor", "api", "/api/v1/datasets/")
    add("GET /api/v1/audit/events/", "auditor", "api", "/api/v1/audit/events/")
    add("GET /api/v1/audit/events/ next page", "auditor", "api", "NEXT:/api/v1/audit/events/")
    add("GET /api/v1/audit/events/?model=", "auditor", "api", f"/api/v1/audit/events/?model={audited}")
    add("GET /api/v1/audit/events/?actor=", "auditor", "api", "/api/v1/audit/events/?actor=user00017")
    add("GET /api/v1/audit/events/?action=", "auditor", "api", "/api/v1/audit/events/?action=login")
    add("GET /api/v1/audit/events/?since=", "auditor", "api", "/api/v1/audit/events/?since=2000-01-01")
    add("GET …/traces/ (a fifth of all traces)", "auditor", "api", f"/api/v1/models/{big}/traces/")
    add("GET /api/v1/notifications/", "validator", "api", "/api/v1/notifications/")
    return page


def clients(people: dict) -> dict:
    from django.test import Client

    from governance.access.services import token_create

    made = {}
    for username, user in people.items():
        browser = Client()
        browser.force_login(user)
        _, raw = token_create(actor=user, user=user, label="scale bench")
        made[(username, "page")] = browser
        made[(username, "api")] = Client(headers={"authorization": f"Bearer {raw}"})
        made[(username, "token")] = raw
        made[(username, "session")] = browser.cookies["sessionid"].value
    return made


def resolve(case: dict, made: dict) -> str:
    """The URL of a case; ``NEXT:`` cases follow the ``next`` link of the first page."""
    url = case["url"]
    if url.startswith("NEXT:"):
        body = made[(case["who"], "api")].get(url[5:]).json()
        url = body["next"] or url[5:]
        if url.startswith("http"):
            url = url.split("testserver", 1)[1]
    return url


def measure(all_cases: list[dict], made: dict, runs: int) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for case in all_cases:
        case["url"] = resolve(case, made)
        client = made[(case["who"], case["how"])]
        for _ in range(2):
            response = client.get(case["url"])
        case["status"] = response.status_code
        with CaptureQueriesContext(connection) as queries:
            client.get(case["url"])
        case["queries"] = len(queries)
        case["times"] = []
        if case["status"] != 200:
            print(f"  ! {case['label']} as {case['who']}: HTTP {case['status']}", flush=True)
    for _ in range(runs):
        for case in all_cases:
            client = made[(case["who"], case["how"])]
            started = time.perf_counter()
            client.get(case["url"])
            case["times"].append(round((time.perf_counter() - started) * 1000, 2))
    return all_cases


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_rss(database_url: str, all_cases: list[dict], made: dict, rounds: int = 3) -> tuple[float, float]:
    """RSS (MB) of one sync gunicorn worker after startup, and after serving every case ``rounds`` times."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_DEBUG="0", GOVERNANCE_LOCAL_CACHE="1",
               LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "governance.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        worker = int(children[0])

        def rss() -> float:
            for line in Path(f"/proc/{worker}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
            return 0.0

        before = rss()
        for _ in range(rounds):
            for case in all_cases:
                headers = {"Host": "127.0.0.1"}
                if case["how"] == "api":
                    headers["Authorization"] = f"Bearer {made[(case['who'], 'token')]}"
                else:
                    headers["Cookie"] = f"sessionid={made[(case['who'], 'session')]}"
                request = urllib.request.Request(f"http://127.0.0.1:{port}{case['url']}", headers=headers)
                try:
                    urllib.request.urlopen(request, timeout=120).read()
                except OSError as error:
                    print(f"  ! gunicorn {case['url']}: {error}", flush=True)
        return before, rss()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main(argv=None) -> int:
    args = parse_args(argv)
    url = args.database_url or default_url(args.scale)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        # Made here when missing: seconds at the quick size, about half an hour at full size.
        size = ["--quick"] if args.quick else ["--scale", str(args.scale)]
        subprocess.run([sys.executable, str(ROOT / "bench" / "scale_generate.py"), *size], check=True)
    configure(url)
    from django.core.management import call_command
    from django.db import connection

    from governance.audit.models import AuditEvent
    from governance.registry.models import MLModel, ModelVersion
    from workflows.testsuites.models import ScoringRecord

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrations applied in {time.perf_counter() - started:.1f} s", flush=True)
    database = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    sizes = {
        "models": MLModel.objects.count(),
        "versions": ModelVersion.objects.count(),
        "audit entries": AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0,
        "traces": ScoringRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0,
    }
    print(f"{database}: " + ", ".join(f"{v:,} {k}" for k, v in sizes.items()), flush=True)
    people = subjects()
    made = clients(people)
    results = measure(cases(people), made, args.runs)
    rows = []
    print(f"{'case':<40} {'as':<10} {'median':>8} {'min':>8} {'max':>8} {'queries':>7}")
    for case in results:
        times = case["times"]
        median = statistics.median(times)
        print(f"{case['label']:<40} {case['who']:<10} {median:8.1f} {min(times):8.1f} {max(times):8.1f} "
              f"{case['queries']:7d}{'' if median < AIM_MS else '  over the aim'}")
        rows.append([case["label"], case["who"], {"runs": times, "unit": "ms"}, case["queries"],
                     "yes" if median < AIM_MS and case["status"] == 200 else "no"])
    sections = [{
        "heading": f"{database}, " + ", ".join(f"{v:,} {k}" for k, v in sizes.items()),
        "text": "In-process Django test Client (middleware, sessions, templates and the access entry each "
                f"request appends), interleaved rounds of one request per case, {args.runs} rounds after two "
                "warm-up requests; queries counted on one request. API calls carry a Bearer token. The aim is a "
                "median under 100 ms.",
        "columns": ["page or endpoint", "as", "time per request", "queries", "under 100 ms"],
        "rows": rows,
    }]
    if not args.no_rss:
        before, after = worker_rss(url, results, made)
        print(f"gunicorn worker RSS: {before:.0f} MB after start, {after:.0f} MB after 3 rounds of every case")
        sections.append({
            "heading": f"{database}: memory of one web worker",
            "text": "One sync gunicorn worker (`governance.wsgi`), real HTTP on loopback; its VmRSS after start-up, "
                    "then after serving every page and API list above three times.",
            "columns": ["moment", "RSS"],
            "rows": [["after start-up", {"runs": [round(before, 1)], "unit": "MB"}],
                     ["after the warm-up", {"runs": [round(after, 1)], "unit": "MB"}]],
        })
    if args.json:
        Path(args.json).write_text(json.dumps({"title": "Pages and API lists at a large bank's scale",
                                               "sections": sections}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
