"""Who is acting, from where, and under which correlation id.

A request gets its correlation id from the ``X-Correlation-ID`` header, or a fresh one; a task or
a management command sets one with ``audit_context``. django-auditlog reads the same id (setting
``AUDITLOG_CID_GETTER``), so its change entries and our events of one request share it.
"""

from __future__ import annotations

import contextlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from auditlog.context import set_actor

_correlation_id: ContextVar[str | None] = ContextVar("governance_correlation_id", default=None)
_agent: ContextVar["AgentContext | None"] = ContextVar("governance_audit_agent", default=None)
_request = ContextVar("governance_audit_request", default=None)


@dataclass(frozen=True)
class AgentContext:
    actor: object | None
    agent_name: str


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def correlation_id_get() -> str | None:
    """The current correlation id (the AUDITLOG_CID_GETTER)."""
    return _correlation_id.get()


def current_request():
    return _request.get()


def current_agent() -> AgentContext | None:
    return _agent.get()


@contextlib.contextmanager
def audit_context(*, correlation_id: str | None = None, actor=None, agent_name: str = ""):
    """Run a task or command as ``actor`` (a service account for agents) under one correlation id.

    Everything recorded inside, auditlog's change entries included, carries this actor and id.
    """
    cid_token = _correlation_id.set(correlation_id or new_correlation_id())
    agent_token = _agent.set(AgentContext(actor=actor, agent_name=agent_name))
    try:
        with set_actor(actor):
            yield
    finally:
        _agent.reset(agent_token)
        _correlation_id.reset(cid_token)


# Celery tasks: each task runs under its task id as correlation id unless it sets its own with
# ``audit_context``. Tokens by task id, so that the reset matches the set.
_task_tokens: dict[str, object] = {}


def task_started(task_id=None, **kwargs) -> None:
    if task_id:
        _task_tokens[task_id] = _correlation_id.set(f"task-{task_id}"[:64])


def task_finished(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        _correlation_id.reset(token)


class CorrelationIdMiddleware:
    """Give each request a correlation id (placed before auditlog's middleware)."""

    header = "X-Correlation-ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cid = (request.headers.get(self.header) or "").strip()[:64] or new_correlation_id()
        cid_token = _correlation_id.set(cid)
        request_token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(request_token)
            _correlation_id.reset(cid_token)
        # Handed back so a client can quote it when asking what its request did.
        response[self.header] = cid
        return response
