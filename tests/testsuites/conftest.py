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
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections

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
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
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
    for name, value in FAST_JOB_SETTINGS.items():
        setattr(settings, name, value)
    use_broker(TEST_REDIS_URL)


@pytest.fixture(autouse=True)
def _role_groups(request):
    """Transactional tests flush the role groups the migrations made; put them back."""
    if "transactional_db" not in request.fixturenames and "live_server" not in request.fixturenames:
        marker = request.node.get_closest_marker("django_db")
        if not marker or not marker.kwargs.get("transaction"):
            return
    request.getfixturevalue("transactional_db")
    from django.contrib.auth.models import Group, Permission

    from governance.access.roles import GLOBAL_ROLE_PERMISSIONS

    for role, perms in GLOBAL_ROLE_PERMISSIONS.items():
        group, created = Group.objects.get_or_create(name=role)
        if created:
            for dotted in perms:
                app_label, codename = dotted.split(".")
                group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


@pytest.fixture
def celery_worker(transactional_db, _fast_jobs):
    """A real worker (solo pool, in a thread) consuming from the test Redis."""
    purge()
    task_postrun.connect(_close_db, weak=False)
    try:
        with start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        task_postrun.disconnect(_close_db)
        connections.close_all()


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


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy; fail with a message naming what did not happen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout} s waiting for {message} (last value: {last!r})")
