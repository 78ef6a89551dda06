"""Fixtures of the lifecycle tests: versions walked to a state, more reviewers, an agent."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from governance.access.services import service_account_get
from governance.registry.models import ModelVersion
from tests import factories

# How to reach each state from draft, with the transitions of the graph.
PATHS: dict[str, list[str]] = {
    "draft": [],
    "testing": ["submit"],
    "tests_failed": ["submit", "fail_tests"],
    "warming_up": ["submit", "pass_tests"],
    "warmup_failed": ["submit", "pass_tests", "fail_warmup"],
    "in_review": ["submit", "pass_tests", "pass_warmup"],
    "approved": ["submit", "pass_tests", "pass_warmup", "approve"],
    "rejected": ["submit", "pass_tests", "pass_warmup", "reject"],
    "changes_requested": ["submit", "pass_tests", "pass_warmup", "request_changes"],
    "challenger": ["submit", "pass_tests", "pass_warmup", "approve", "promote_to_challenger"],
    "champion": ["submit", "pass_tests", "pass_warmup", "approve", "promote_to_challenger", "promote_to_champion"],
    "retired": [
        "submit", "pass_tests", "pass_warmup", "approve", "promote_to_challenger", "promote_to_champion", "retire",
    ],
    "withdrawn": ["withdraw"],
}


@pytest.fixture(autouse=True)
def _fast_passwords_and_fresh_limits(settings):
    # Signing checks a password on every call; a fast hasher keeps the suite quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Rate limits and used one-time codes live in the cache: no test inherits another's.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def agent(db):
    """The test worker's service account."""
    return service_account_get("test-runner")


@pytest.fixture
def frank(db):
    return factories.make_user("frank", "validator")


@pytest.fixture
def gina(db):
    return factories.make_user("gina", "validator")


def actor_for(name: str, *, alice, carol, oscar, agent):
    return {
        "submit": alice,
        "pass_tests": agent,
        "fail_tests": agent,
        "pass_warmup": agent,
        "fail_warmup": agent,
        "approve": carol,
        "reject": carol,
        "request_changes": carol,
        "rerun_tests": carol,
        "withdraw": alice,
        "promote_to_challenger": oscar,
        "promote_to_champion": oscar,
        "retire": oscar,
        "rollback": oscar,
    }[name]


def walk(version: ModelVersion, names: list[str], *, users: dict) -> ModelVersion:
    """Run transitions in order through the service, each by a user allowed to."""
    for name in names:
        version = factories.step(version, name, actor_for(name, **users), annotation=f"walk: {name}")
    return version


@pytest.fixture
def users(alice, carol, oscar, agent):
    return {"alice": alice, "carol": carol, "oscar": oscar, "agent": agent}


@pytest.fixture
def version_in(credit_model, alice, datasets, users):
    """version_in(state, model=credit_model) -> a new version of the model in that state."""

    def make(state: str, model=None) -> ModelVersion:
        version = factories.make_version(model or credit_model, alice, datasets=datasets)
        return walk(version, PATHS[state], users=users)

    return make


@pytest.fixture
def in_review(version_in):
    return version_in("in_review")


def grant(model, role, *users):
    for user in users:
        factories.grant(model=model, user=user, role=role)
