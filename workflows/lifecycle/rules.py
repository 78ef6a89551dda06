"""Who may call which transition, which need an annotation, and what follows once one commits.

The states and the transitions themselves are on the model version (governance.registry.models);
this table adds the rules around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from governance.access import permissions


# Who may take a person's transition, named by the keys of ``permissions.HOLDERS`` (the same
# table the grants and the risk tier use), plus the portal's own agents.
AGENT = "agent"


@dataclass(frozen=True)
class Rule:
    # Who may take the transition, from any of its source states...
    holders: tuple[str, ...]
    annotation_required: bool
    description: str
    # ...unless the source state names its own holders here (retire: an owner retires an
    # approved version, never a serving one).
    holders_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Agent transitions are run by workers and scheduled jobs, never from a page or the API.
    agent_only: bool = False
    # Reached only through the sign-off service, never called by name.
    via_signoff: bool = False
    # Run once the transition has committed, as f(version_id=..., record_id=...): dotted paths,
    # imported when the transition runs (the apps they name are built on this one).
    after_commit: tuple[str, ...] = ()
    # Checked under the version's lock before the step, as f(version, actor=..., override=...,
    # annotation=...) -> facts to record with the transition (or an ActionError): dotted paths.
    checks: tuple[str, ...] = ()

    def holders_for(self, state: str) -> tuple[str, ...]:
        """Who may take the transition from ``state``."""
        return self.holders_from.get(state, self.holders)

    @property
    def all_holders(self) -> tuple[str, ...]:
        """Everyone who may take the transition from some state."""
        every = list(self.holders)
        for holders in self.holders_from.values():
            every.extend(key for key in holders if key not in every)
        return tuple(every)

    def who(self, user, version, cache: dict | None = None) -> bool:
        """Whether ``user`` may take the transition on ``version`` in its current state.

        ``cache`` (one dict per request, so per user) keeps each holder's answer per model
        across versions.
        """
        return holders_allow(self.holders_for(version.state), user, version.model, cache)


def _person(user) -> bool:
    """People's transitions need a signed-in, active account (None is a scheduled job)."""
    return user is not None and user.is_authenticated and user.is_active


def _agent(user) -> bool:
    """Workers run as a service account, or as nobody (a scheduled job naming itself)."""
    return user is None or (getattr(user, "is_service_account", False) and user.is_active)


def holders_allow(holders: tuple[str, ...], user, model, cache: dict | None = None) -> bool:
    """Whether ``user`` is one of ``holders`` on ``model``: people through
    ``permissions.HOLDERS``, the portal's agents through ``AGENT``."""
    if AGENT in holders and _agent(user):
        return True
    if not _person(user):
        return False
    cache = {} if cache is None else cache
    checker = None
    for key in holders:
        if key == AGENT:
            continue
        if (model.pk, key) not in cache:
            # One checker for the holders asked about here: the user's grants load once.
            checker = checker or permissions.checker_for(user)
            cache[(model.pk, key)] = permissions.HOLDERS[key].test(user, model, checker)
        if cache[(model.pk, key)]:
            return True
    return False


# A committed submit or rerun_tests queues a test run; a committed pass_tests queues the warm-up.
QUEUE_TEST_RUN = "workflows.testsuites.runs.test_run_request"
QUEUE_WARMUP = "workflows.testsuites.warmup.warmup_request"
# A version becomes champion only with its conditions closed and after shadowing the champion.
OPEN_CONDITIONS_CHECK = "workflows.lifecycle.findings.champion_conditions_check"
SHADOW_GUARD = "workflows.lifecycle.promotion.promotion_guard"

RULES: dict[str, Rule] = {
    "submit": Rule(("contributor",), False, "Send the version to its test suite", after_commit=(QUEUE_TEST_RUN,)),
    "pass_tests": Rule((AGENT,), True, "Tests passed", agent_only=True, after_commit=(QUEUE_WARMUP,)),
    "fail_tests": Rule((AGENT,), True, "Tests failed", agent_only=True),
    "pass_warmup": Rule((AGENT,), True, "Warm-up passed", agent_only=True),
    "fail_warmup": Rule((AGENT,), True, "Warm-up failed", agent_only=True),
    # Sign-offs decide these; who signs is SIGNERS below.
    "approve": Rule((), True, "Approved by the required sign-offs", via_signoff=True),
    "reject": Rule((), True, "Rejected by a reviewer", via_signoff=True),
    "request_changes": Rule((), True, "Changes requested by a reviewer", via_signoff=True),
    "rerun_tests": Rule(("reviewer",), True, "Run the tests again", after_commit=(QUEUE_TEST_RUN,)),
    "withdraw": Rule(("owner",), True, "Withdraw the version"),
    "promote_to_challenger": Rule(("operator",), True, "Promote to challenger (shadow scoring)"),
    "promote_to_champion": Rule(
        ("operator",), True, "Promote to champion", checks=(OPEN_CONDITIONS_CHECK, SHADOW_GUARD)
    ),
    # Owners retire what does not serve; a serving version (challenger, champion) only operators.
    "retire": Rule(("operator",), True, "Retire the version", holders_from={"approved": ("operator", "owner")}),
    "rollback": Rule(("operator",), True, "Roll back to this former champion"),
}

# Who signs off a version (approve, reject, request changes), besides never being its author.
SIGNERS: tuple[str, ...] = ("reviewer",)

# The names a person may call from a page or the API.
USER_TRANSITIONS = [name for name, rule in RULES.items() if not rule.agent_only and not rule.via_signoff]
