#!/usr/bin/env python
"""Run every benchmark in bench/ and write their figures, with the machine, into one Markdown file.

    ./scripts/bench            # full sizes, SQLite and PostgreSQL: docs/benchmarks.md (tens of minutes)
    ./scripts/bench --quick    # small sizes, SQLite only: .run/benchmarks-quick.md (about two minutes)

Each script runs as a subprocess with ``--json PATH`` (and ``--quick``), once per database: on
SQLite, and on PostgreSQL with a database of its own (``bench_<script>``, dropped and created
afresh before each run) on the server of ``--postgres-url``. The results format is described in
bench/benchlib.py. A script that is absent from the checkout is skipped with a
note; a script that fails is reported with the end of its output, and the harness exits 1 once
all have run. MLflow is installed on first use into its own virtual environment outside the
checkout (bench/benchlib.py); with ``--quick``, if that installation fails, the MLflow sides are
skipped and the report says so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

BASE_DIR = benchlib.BASE_DIR
BENCH_DIR = BASE_DIR / "bench"
LOGS = BASE_DIR / ".run" / "bench"  # each script's output and results file

# (file, how it is given a PostgreSQL database: "arg" --database-url, "env" DATABASE_URL, None:
# it makes its own SQLite database only; the MLflow it compares with, if any: "tracking" is
# MLflow 3's tracking server (bench/benchlib.py MLFLOW_REQUIREMENTS), "serve" the model server
# of MLFLOW_SERVE_REQUIREMENTS).
SCRIPTS = [
    ("registry_bench.py", "arg", "tracking"),
    ("gateway_bench.py", "arg", "serve"),
    ("model_list_bench.py", "arg", None),
    ("audit_bench.py", "env", None),
    ("warmup_bench.py", None, None),
    ("scale_bench.py", None, None),
]
INSTALL = {"tracking": benchlib.mlflow_python, "serve": benchlib.mlflow_serve_python}

INTRO = """\
Every figure here was measured by `./scripts/bench` (`bench/run.py`), which runs each script of
`bench/` and writes this file; `./scripts/bench --quick` runs the same scripts at small sizes.
A figure written `median (min–max) unit` is the median of several runs with the lowest and
highest; each run is one round of the script (its rounds are described in its section). A
comparison between two systems is a ratio computed within each round, the two sides measured
back to back in that round with their order alternating from round to round, so that changes in
the machine's load touch both alike. Counts (queries, rows) are plain numbers. The machine is
shared: the load average when each script started and ended is given with its figures; on two
cores, a load above two means other work took turns with the benchmark, and the spread of the
runs says how much that moved each figure.
"""


def machine(postgres_url: str, render_only: bool = False) -> list[tuple[str, str]]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    postgres = "not used"
    if postgres_url:
        try:
            import psycopg

            with psycopg.connect(database_url(postgres_url, "postgres"), connect_timeout=5) as conn:
                postgres = conn.execute("SHOW server_version").fetchone()[0]
        except Exception as error:  # noqa: BLE001 - reported, the rest of the run goes on
            postgres = f"not reachable ({error.__class__.__name__})"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=BASE_DIR,
                           capture_output=True, text=True)
    return [
        ("CPU", f"{os.cpu_count()} cores, {cpu}" if cpu else f"{os.cpu_count()} cores"),
        ("Memory", memory),
        ("System", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", postgres),
        ("MLflow", f"{benchlib.mlflow_version() or 'not installed'} (tracking server, registry); "
                   f"{benchlib.mlflow_version('mlflow-serve-venv', benchlib.MLFLOW_SERVE_REQUIREMENTS) or 'not installed'} "
                   "(`mlflow models serve`, gateway)"),
        ("Code" if not render_only else "Code (when this file was written)",
         (commit.stdout.strip() or "?") + (" with uncommitted changes" if dirty.stdout.strip() else "")),
    ]


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def recreate_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def postgres_answers(server_url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(database_url(server_url, "postgres"), connect_timeout=5):
            return True
    except Exception:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        return False


def number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(value) -> str:
    if isinstance(value, dict) and "runs" in value:
        values = value["runs"]
        unit = value.get("unit", "")
        if not values:
            return "–"
        if len(values) == 1:
            return f"{number(values[0])} {unit}".strip()
        return f"{number(statistics.median(values))} ({number(min(values))}–{number(max(values))}) {unit}".strip()
    if isinstance(value, float):
        return number(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_results(data: dict) -> list[str]:
    lines = []
    for section in data.get("sections", []):
        lines += [f"### {section['heading']}", ""]
        if section.get("text"):
            lines += [section["text"].strip(), ""]
        if section.get("columns"):
            lines.append("| " + " | ".join(cell(c) for c in section["columns"]) + " |")
            lines.append("|" + "---|" * len(section["columns"]))
            for row in section.get("rows", []):
                lines.append("| " + " | ".join(cell(c) for c in row) + " |")
            lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, SQLite only (about two minutes)")
    parser.add_argument("--only", default="", help="comma-separated script names, e.g. registry_bench,audit_bench")
    parser.add_argument("--output", default="", help="default: docs/benchmarks.md, or .run/benchmarks-quick.md with --quick")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/"),
                        help="a PostgreSQL server where databases may be created and dropped")
    parser.add_argument("--database-prefix", default="bench_", help="names of the PostgreSQL databases made (bench_)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--postgres", action="store_true", help="with --quick, run on PostgreSQL too")
    parser.add_argument("--script-args", action="append", default=[], metavar="NAME=ARGS",
                        help="more options for one script, e.g. 'warmup_bench=--repeat 3' (repeatable)")
    parser.add_argument("--render-only", action="store_true",
                        help="run nothing: write the report from the results the last runs left in .run/bench/")
    args = parser.parse_args()

    output = Path(args.output) if args.output else (
        BASE_DIR / ".run" / "benchmarks-quick.md" if args.quick else BASE_DIR / "docs" / "benchmarks.md"
    )
    logs = LOGS
    logs.mkdir(parents=True, exist_ok=True)
    only = {name.strip().removesuffix(".py") for name in args.only.split(",") if name.strip()}
    script_args = {}
    for item in args.script_args:
        name, _, extra = item.partition("=")
        script_args[name.strip().removesuffix(".py")] = shlex.split(extra)
    use_postgres = not args.no_postgres and (args.postgres or not args.quick)
    notes = []
    if use_postgres and not postgres_answers(args.postgres_url):
        notes.append(f"PostgreSQL does not answer at {args.postgres_url}: SQLite only.")
        use_postgres = False
    if args.quick and not use_postgres and not args.no_postgres and not args.postgres:
        notes.append("Quick form: SQLite only.")

    installed = {}
    for kind in [] if args.render_only else sorted({mlflow for name, _, mlflow in SCRIPTS if mlflow and (not only or name.removesuffix(".py") in only)}):
        try:
            INSTALL[kind]()
            installed[kind] = True
        except (subprocess.CalledProcessError, OSError) as error:
            if not args.quick:
                print(f"bench: could not install MLflow ({error})", file=sys.stderr)
                return 1
            installed[kind] = False
            notes.append(f"MLflow ({kind}) could not be installed ({error}): its sides were skipped.")

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    description = machine(args.postgres_url if use_postgres else "", args.render_only)
    body: list[str] = []
    failures = []
    for name, database, mlflow in SCRIPTS:
        stem = name.removesuffix(".py")
        if only and stem not in only:
            continue
        path = BENCH_DIR / name
        if not path.exists():
            notes.append(f"`bench/{name}` is not in this checkout: skipped.")
            continue
        with_mlflow = installed.get(mlflow, True)
        if not with_mlflow and stem != "registry_bench":
            notes.append(f"`bench/{name}` needs MLflow: skipped.")
            continue
        backends = [("SQLite", "")]
        if database and use_postgres:
            backends.append(("PostgreSQL", database_url(args.postgres_url, f"{args.database_prefix}{stem}")))
        for backend, url in backends:
            label = f"{stem}-{backend.lower()}"
            result_file = logs / f"{label}.json"
            log_file = logs / f"{label}.log"
            if args.render_only:
                if result_file.exists():
                    data = json.loads(result_file.read_text())
                    took = f", {data['seconds']:.0f} s" if "seconds" in data else ""
                    took += f"; {data['run']}" if data.get("run") else ""
                    options = f" {data['options']}" if data.get("options") else ""
                    body += [f"## {data.get('title', name)} ({backend})", "", f"`bench/{name}{options}`{took}.", ""]
                    body += render_results(data)
                else:
                    notes.append(f"`bench/{name}` on {backend}: no results in {logs}.")
                continue
            result_file.unlink(missing_ok=True)
            command = [sys.executable, str(path), "--json", str(result_file)]
            if args.quick:
                command.append("--quick")
            command += script_args.get(stem, [])
            if mlflow and not with_mlflow:
                command.append("--without-mlflow")
            env = dict(os.environ)
            env.pop("DATABASE_URL", None)
            if url:
                recreate_database(args.postgres_url, f"{args.database_prefix}{stem}")
                if database == "arg":
                    command += ["--database-url", url]
                else:
                    env["DATABASE_URL"] = url
            print(f"== {name} on {backend}: {' '.join(command[1:])}", flush=True)
            began = time.monotonic()
            load_at_start = os.getloadavg()[0]
            when = datetime.datetime.now(datetime.timezone.utc)
            with open(log_file, "wb") as log:
                status = subprocess.run(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
            seconds = time.monotonic() - began
            print(f"   {'done' if status == 0 else f'FAILED (exit {status})'} in {seconds:.0f} s; log {log_file}",
                  flush=True)
            if status != 0 or not result_file.exists():
                tail = log_file.read_text(errors="replace")[-2000:]
                failures.append(f"{name} on {backend}")
                body += [f"## `bench/{name}` on {backend}: failed (exit {status})", "", "```", tail, "```", ""]
                continue
            data = json.loads(result_file.read_text())
            data["seconds"] = round(seconds, 1)
            data["options"] = " ".join(command[4:])
            data["run"] = f"{when:%Y-%m-%d %H:%M} UTC, load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
            result_file.write_text(json.dumps(data, indent=1))
            body += [f"## {data.get('title', name)} ({backend})", "",
                     f"`bench/{name}{' ' + data['options'] if data['options'] else ''}`, {seconds:.0f} s; {data['run']}.", ""]
            body += render_results(data)
    load_after = os.getloadavg()

    lines = ["# Benchmarks", "", INTRO, "## The machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in description]
    if not args.render_only:
        lines.append(f"| Run | {started:%Y-%m-%d %H:%M} UTC{', quick form' if args.quick else ''} |")
        lines.append(f"| Load average (1, 5, 15 min) | at the start {', '.join(f'{x:.1f}' for x in load_before)}; "
                     f"at the end {', '.join(f'{x:.1f}' for x in load_after)} |")
    lines.append("")
    if notes:
        lines += [f"- {note}" for note in notes] + [""]
    lines += body
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {output}")
    if failures:
        print(f"bench: failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
