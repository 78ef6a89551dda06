"""What the benchmark scripts in bench/ share: the results file, MLflow's virtual environment,
and the processes they start.

The results file (``--json PATH``) is one JSON object::

    {"title": "...", "sections": [{"heading": "...", "text": "Markdown", "columns": [...], "rows": [[cell, ...]]}]}

A cell is a string, a number, or ``{"runs": [...], "unit": "..."}`` (one value per repeated
run), which ``bench/run.py`` renders as ``median (min–max) unit``. A section may have text only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# MLflow lives in its own virtual environment, never in requirements*.txt. It is kept outside the
# checkout so that a clean checkout on the same machine (CI) reuses it.
MLFLOW_REQUIREMENTS = [
    "mlflow[auth]==3.17.2",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    "psycopg2-binary==2.9.13",  # MLflow's stores on PostgreSQL (SQLAlchemy's default driver)
]


# The gateway benchmark compares with ``mlflow models serve`` of MLflow 2.19.0, whose scoring
# server runs under gunicorn. MLflow 3's serves with uvicorn, whose workers leave TCP_NODELAY
# off when there are several, so every keep-alive request waits for a delayed ACK (~40 ms).
MLFLOW_SERVE_REQUIREMENTS = ["mlflow==2.19.0", "onnx==1.22.0", "onnxruntime==1.32.0"]  # what pip resolves for 2.19.0


def mlflow_venv(name: str = "mlflow-venv") -> Path:
    cache = os.environ.get("GOVERNANCE_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "governance-bench"
    )
    return Path(cache) / name


def mlflow_ready(name: str = "mlflow-venv", requirements=MLFLOW_REQUIREMENTS) -> bool:
    """Whether the virtual environment ``name`` holds exactly ``requirements``."""
    venv = mlflow_venv(name)
    stamp = venv / "requirements.txt"
    return (venv / "bin" / "python").exists() and stamp.exists() and stamp.read_text() == "\n".join(requirements)


def mlflow_python(name: str = "mlflow-venv", requirements=MLFLOW_REQUIREMENTS) -> Path:
    """The Python of an MLflow virtual environment, made (about a minute, 1 GB) on first use."""
    venv = mlflow_venv(name)
    python = venv / "bin" / "python"
    if not mlflow_ready(name, requirements):
        print(f"installing {', '.join(requirements)} into {venv}", file=sys.stderr, flush=True)
        if not python.exists():
            venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements], check=True
        )
        (venv / "requirements.txt").write_text("\n".join(requirements))
    return python


def mlflow_serve_python() -> Path:
    return mlflow_python("mlflow-serve-venv", MLFLOW_SERVE_REQUIREMENTS)


def mlflow_version(name: str = "mlflow-venv", requirements=MLFLOW_REQUIREMENTS) -> str:
    if not mlflow_ready(name, requirements):
        return ""
    result = subprocess.run(
        [str(mlflow_venv(name) / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True, text=True,
    )
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}: {log.read_text(errors='replace')[-3000:]}")


class Processes:
    """Processes started in their own session, each stopped by its process group id."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.started: list[subprocess.Popen] = []

    def spawn(self, command, log_name: str, **kwargs) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / log_name
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        self.started.append(process)
        return process, log

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


def process_tree(root: int) -> dict[int, int]:
    """{pid: parent pid} of ``root`` and all its descendants (Linux /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    stat = handle.read()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    tree, frontier = {root: parents.get(root, 0)}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree[child] = parent
                frontier.append(child)
    return tree


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def gunicorn_memory(root: int) -> dict:
    """RSS of the web workers under ``root`` (processes whose parent is a gunicorn master, started
    as ``python -m gunicorn``) and of the whole process tree, in MiB."""
    tree = process_tree(root)
    masters = {pid for pid in tree if "-m gunicorn" in cmdline(pid)}
    workers = [pid for pid, parent in tree.items() if parent in masters]
    return {
        "worker_mib": [rss_mib(pid) for pid in workers],
        "total_mib": sum(rss_mib(pid) for pid in tree),
        "processes": len(tree),
    }


def runs(values, unit: str, digits: int = 2) -> dict:
    return {"runs": [round(v, digits) for v in values], "unit": unit}


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def median(values) -> float:
    return statistics.median(values)


class Results:
    """The results of one script, written with ``--json``."""

    def __init__(self, title: str):
        self.title = title
        self.sections: list[dict] = []

    def section(self, heading: str, *, text: str = "", columns=None, rows=None) -> None:
        section = {"heading": heading}
        if text:
            section["text"] = text
        if columns:
            section["columns"] = list(columns)
            section["rows"] = [list(row) for row in rows or []]
        self.sections.append(section)

    def write(self, path: str | None) -> None:
        if path:
            Path(path).write_text(json.dumps({"title": self.title, "sections": self.sections}, indent=1))


def add_arguments(parser) -> None:
    """The options every benchmark script takes."""
    parser.add_argument("--quick", action="store_true", help="small sizes: seconds to tens of seconds")
    parser.add_argument("--json", metavar="PATH", default="", help="write the results there (bench/benchlib.py)")
