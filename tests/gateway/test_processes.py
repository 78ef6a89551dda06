"""The gateway in a real web process (gunicorn): champion changes seen by the next request in
another process, and traces that survive the web process being killed right after an answer."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from governance.access.services import token_create
from tests.testsuites.conftest import TEST_REDIS_URL, free_port, purge, use_broker
from workflows.lifecycle.services import version_transition
from workflows.testsuites.models import ScoringRecord

from .conftest import rows_of

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WebProcess:
    """``gunicorn governance.wsgi`` with one worker, on the test database, started by the test."""

    def __init__(self, log_path):
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DJANGO_ENV": "test",
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "REDIS_URL": TEST_REDIS_URL,
            "CELERY_BROKER_URL": TEST_REDIS_URL,
            "GOVERNANCE_SCORING_OUTSIDE_WORKERS": "false",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "governance.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--timeout", "60"],
            cwd=str(settings.BASE_DIR), env=env, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                self.request("GET", "/api/v1/models/", token="")
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"gunicorn did not start: {self.log_path.read_text()[-3000:]}")

    def request(self, method: str, path: str, *, token: str, body=None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, json.loads(data) if data else {}

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def web_process(tmp_path):
    use_broker(TEST_REDIS_URL)
    purge()
    web = WebProcess(tmp_path / "gunicorn.log")
    try:
        yield web
    finally:
        web.stop()
        purge()


def test_every_champion_change_answers_from_the_next_request_in_another_process(
    two_versions, credit_model, victor, oscar, web_process
):
    first, second = two_versions
    _, token = token_create(actor=victor, user=victor, label="service")
    web_process.start()
    path = f"/api/v1/models/{credit_model.slug}/predict"
    body = {"inputs": rows_of(first, 3)}

    status, answer = web_process.request("POST", path, token=token, body=body)
    assert (status, answer["model_version"]) == (200, first.number), answer

    # Promotion commits here, in the test process; the web process has v1 loaded.
    version_transition(version=second, name="promote_to_champion", actor=oscar, annotation="better")
    status, answer = web_process.request("POST", path, token=token, body=body)
    assert (status, answer["model_version"]) == (200, second.number), answer

    version_transition(version=first, name="rollback", actor=oscar, annotation="back to v1")
    status, answer = web_process.request("POST", path, token=token, body=body)
    assert (status, answer["model_version"]) == (200, first.number), answer

    version_transition(version=first, name="retire", actor=oscar, annotation="no champion for now")
    status, answer = web_process.request("POST", path, token=token, body=body)
    assert (status, answer["code"]) == (409, "no_champion"), answer

    answered = ScoringRecord.objects.filter(shadow=False).order_by("at", "id")
    assert [record.version.number for record in answered] == [first.number, second.number, first.number]


def test_trace_survives_the_web_process_killed_right_after_the_answer(champion, credit_model, victor, web_process):
    _, token = token_create(actor=victor, user=victor, label="service")
    web_process.start()
    rows = rows_of(champion, 4)
    status, answer = web_process.request("POST", f"/api/v1/models/{credit_model.slug}/predict", token=token, body={"inputs": rows})
    web_process.kill()
    assert status == 200
    connection.close()  # read what another connection finds: what the database holds
    record = ScoringRecord.objects.get(trace_id=answer["trace_id"])
    assert record.version_id == champion.pk and record.inputs == rows
    assert record.outputs["predictions"] == answer["predictions"]
