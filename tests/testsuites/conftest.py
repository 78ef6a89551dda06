"""Fixtures of the test-suite agents: a real Celery worker on a real Redis, and a throwaway Redis.

The worker runs in a thread of the test process (``celery.contrib.testing.worker.start_worker``,
solo pool) against Redis database 15 by default; the Redis-down and killed-worker tests start
their own ``redis-server`` on another port and stop only that one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from kombu import pools as kombu_pools
from kombu.asynchronous import set_event_loop

from governance.celery import app as celery_app

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

FAST_JOB_SETTINGS = {
    "GOVERNANCE_JOB_HEARTBEAT_SECONDS": 0.3,
    "GOVERNANCE_JOB_STALE_SECONDS": 2.0,
    "GOVERNANCE_JOB_REQUEUE_SECONDS": 600,
    "GOVERNANCE_JOB_MAX_ATTEMPTS": 2,
}


def use_broker(url: str) -> None:
    """Point the Celery app (producers and workers) at ``url``, dropping old connections."""
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = {
        "visibility_timeout": 3,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    celery_app.conf.broker_connection_retry_on_startup = False
    # Drop kombu's process-wide pools too: a closed pool stays registered under its URL.
    kombu_pools.reset()
    celery_app._pool = None
    try:
        celery_app.amqp._producer_pool = None
    except AttributeError:  # pragma: no cover
        pass


def purge() -> None:
    with celery_app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()


def _close_db(**kwargs):
    # The worker thread opens its own connections; close them after each task so that the
    # test database can be flushed and dropped.
    connections.close_all()


@pytest.fixture(autouse=True)
def _fast_jobs(settings):
    # Named users are made in every test: hash their passwords cheaply.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for name, value in FAST_JOB_SETTINGS.items():
        setattr(settings, name, value)
    use_broker(TEST_REDIS_URL)


@contextmanager
def in_thread_worker():
    """A real worker (solo pool) in a thread of this process, on the app's current broker."""
    # Each worker needs its own event loop: celery reuses the process-wide one, which the
    # previous embedded worker closed when it stopped.
    set_event_loop(None)
    task_postrun.connect(_close_db, weak=False)
    try:
        with start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_close_db)
        connections.close_all()


@pytest.fixture
def celery_worker(transactional_db, _fast_jobs):
    """A real worker consuming from the test Redis (database 15), emptied first."""
    purge()
    with in_thread_worker() as worker:
        yield worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """A redis-server of our own on its own port, started and stopped by the test."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / f"redis-{self.port}"
        self.dir.mkdir()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def throwaway_redis(tmp_path):
    redis = ThrowawayRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()
        use_broker(TEST_REDIS_URL)


def worker_subprocess(*, broker_url: str, media_root, name: str, log_path) -> subprocess.Popen:
    """``celery -A governance worker`` as a real process on the test database and ``broker_url``."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "REDIS_URL": broker_url,
        "MEDIA_ROOT": str(media_root),
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "GOVERNANCE_JOB_HEARTBEAT_SECONDS": str(settings.GOVERNANCE_JOB_HEARTBEAT_SECONDS),
        "GOVERNANCE_JOB_STALE_SECONDS": str(settings.GOVERNANCE_JOB_STALE_SECONDS),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "governance", "worker", "--pool=solo", "--concurrency=1",
         f"--hostname={name}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=INFO"],
        cwd=str(settings.BASE_DIR),
        env=env,
        stdout=open(log_path, "ab"),  # noqa: SIM115 - the process owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy; fail with a message naming what did not happen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout} s waiting for {message} (last value: {last!r}); {diagnostics()}")


def diagnostics() -> str:
    """What the jobs and the broker looked like, for a failure message."""
    from workflows.testsuites.models import TestRun, WarmupRun

    jobs = [
        f"{type(job).__name__} {job.pk}: {job.status} attempt {job.attempt} worker {job.worker!r} error {job.error!r}"
        for model in (TestRun, WarmupRun)
        for job in model.objects.all()
    ]
    try:
        with celery_app.connection_for_write() as conn:
            client = conn.default_channel.client
            queued = f"{client.llen('celery')} queued, {client.hlen('unacked')} unacknowledged"
    except Exception as exc:  # noqa: BLE001 - diagnostics only
        queued = f"unknown ({exc})"
    import threading

    threads = [t.name for t in threading.enumerate()]
    return f"jobs: {jobs or 'none'}; messages in Redis: {queued}; threads: {threads}"
