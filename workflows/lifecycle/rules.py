"""Who may call which transition, which need an annotation, and what follows once one commits.

The states and the transitions themselves are on the model version (governance.registry.models);
this table adds the rules around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from governance.access import permissions


@dataclass(frozen=True)
class Rule:
    who: Callable[[object, object], bool]
    annotation_required: bool
    description: str
    # Agent transitions are run by workers and scheduled jobs, never from a page or the API.
    agent_only: bool = False
    # Reached only through the sign-off service, never called by name.
    via_signoff: bool = False
    # Run once the transition has committed, as f(version_id=..., record_id=...): dotted paths,
    # imported when the transition runs (the apps they name are built on this one).
    after_commit: tuple[str, ...] = ()


def _person(user) -> bool:
    """People's transitions need a signed-in, active account (None is a scheduled job)."""
    return user is not None and user.is_authenticated and user.is_active


def _owner_or_contributor(user, model) -> bool:
    return _person(user) and permissions.can_contribute(user, model)


def _owner(user, model) -> bool:
    return _person(user) and permissions.is_owner(user, model)


def _validator_reviewer(user, model) -> bool:
    return _person(user) and permissions.is_reviewer(user, model)


def _operator(user, model) -> bool:
    return _person(user) and permissions.is_operator(user, model)


def _operator_or_owner(user, model) -> bool:
    return _person(user) and (permissions.is_operator(user, model) or permissions.is_owner(user, model))


def _agent(user, model) -> bool:
    """Workers run as a service account, or as nobody (a scheduled job naming itself)."""
    return user is None or (getattr(user, "is_service_account", False) and user.is_active)


def _nobody(user, model) -> bool:
    return False


# A committed submit or rerun_tests queues a test run; a committed pass_tests queues the warm-up.
QUEUE_TEST_RUN = "workflows.testsuites.runs.test_run_request"
QUEUE_WARMUP = "workflows.testsuites.warmup.warmup_request"

RULES: dict[str, Rule] = {
    "submit": Rule(_owner_or_contributor, False, "Send the version to its test suite", after_commit=(QUEUE_TEST_RUN,)),
    "pass_tests": Rule(_agent, True, "Tests passed", agent_only=True, after_commit=(QUEUE_WARMUP,)),
    "fail_tests": Rule(_agent, True, "Tests failed", agent_only=True),
    "pass_warmup": Rule(_agent, True, "Warm-up passed", agent_only=True),
    "fail_warmup": Rule(_agent, True, "Warm-up failed", agent_only=True),
    "approve": Rule(_nobody, True, "Approved by the required sign-offs", via_signoff=True),
    "reject": Rule(_nobody, True, "Rejected by a reviewer", via_signoff=True),
    "request_changes": Rule(_nobody, True, "Changes requested by a reviewer", via_signoff=True),
    "rerun_tests": Rule(_validator_reviewer, True, "Run the tests again", after_commit=(QUEUE_TEST_RUN,)),
    "withdraw": Rule(_owner, True, "Withdraw the version"),
    "promote_to_challenger": Rule(_operator, True, "Promote to challenger (shadow scoring)"),
    "promote_to_champion": Rule(_operator, True, "Promote to champion"),
    "retire": Rule(_operator_or_owner, True, "Retire the version"),
    "rollback": Rule(_operator, True, "Roll back to this former champion"),
}

# The names a person may call from a page or the API.
USER_TRANSITIONS = [name for name, rule in RULES.items() if not rule.agent_only and not rule.via_signoff]
