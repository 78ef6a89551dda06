"""An access event in real processes: a gunicorn web process answers a read and is killed at once;
the event it queued is appended by a real Celery worker, with the reader and the time of the
read, and the chain verifies."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from governance.access.services import token_create
from governance.audit.access_queue import guard_key, queued_count, redis_client
from governance.audit.models import AuditEvent
from governance.audit.services import access_append
from governance.audit.verification import chain_verify
from tests.testsuites.conftest import TEST_REDIS_URL, free_port, purge, use_broker, wait_for, worker_subprocess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _get(port: int, path: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture
def processes(settings, monkeypatch, tmp_path):
    """The web process and the worker see this test's queue key and the test Redis; whatever the
    test started is killed afterwards."""
    settings.GOVERNANCE_AUDIT_ACCESS_REDIS_URL = TEST_REDIS_URL
    use_broker(TEST_REDIS_URL)
    purge()
    monkeypatch.setenv("GOVERNANCE_AUDIT_ACCESS_QUEUE_KEY", settings.GOVERNANCE_AUDIT_ACCESS_QUEUE_KEY)
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        _kill(process)
    purge()


def test_a_read_answered_by_a_killed_web_process_is_appended_by_the_worker(processes, audrey, credit_model, tmp_path):
    _, token = token_create(actor=audrey, user=audrey, label="reader")
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "REDIS_URL": TEST_REDIS_URL,
        "CELERY_BROKER_URL": TEST_REDIS_URL,
        "GOVERNANCE_AUDIT_ACCESS_REDIS_URL": TEST_REDIS_URL,
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "governance.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--timeout", "60"],
        cwd=str(settings.BASE_DIR), env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )
    processes.append(web)
    deadline = time.monotonic() + 60
    while True:
        assert web.poll() is None, log.read_text()[-3000:]
        try:
            _get(port, "/api/v1/models/", token="")
            break
        except OSError:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)

    before = timezone.now()
    status = _get(port, f"/api/v1/models/{credit_model.slug}/", token=token)
    after = timezone.now()
    _kill(web)  # right after the answer: the event is only in Redis
    assert status == 200

    connection.close()  # read what the database holds, from a new connection
    assert not AuditEvent.objects.filter(action="model.viewed").exists()
    assert queued_count() == 1

    worker = worker_subprocess(
        broker_url=TEST_REDIS_URL, media_root=settings.MEDIA_ROOT, name="drainer", log_path=tmp_path / "worker.log"
    )
    processes.append(worker)
    event = wait_for(
        lambda: AuditEvent.objects.filter(action="model.viewed").first(),
        timeout=60,
        message="the worker to append the queued read",
    )
    assert event.actor_id == audrey.pk and event.actor_username == "audrey"
    assert event.model_slug == credit_model.slug
    assert before <= event.at <= after
    assert AuditEvent.objects.filter(action="model.viewed").count() == 1
    assert queued_count() == 0
    assert chain_verify().ok

    # A worker that stops drains what was queued since, though no drain task was sent for it
    # (the guard is up, as while an earlier read's drain is pending).
    redis_client().set(guard_key(), "1", ex=600)
    access_append(action="model.viewed", actor=audrey, obj=credit_model)
    assert queued_count() == 1
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(60) == 0
    assert AuditEvent.objects.filter(action="model.viewed").count() == 2
    assert queued_count() == 0
    assert chain_verify().ok
