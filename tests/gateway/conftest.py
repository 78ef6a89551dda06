"""Fixtures of the gateway tests: a model with a champion, a viewer, and clean process state.

victor holds only the viewer grant on the model; eve (tests/conftest.py) holds none.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from governance.access.services import service_account_get
from governance.registry.models import ModelVersion
from tests import factories
from tests.testsuites.helpers import _reviewer_of, make_champion
from workflows.gateway import serving
from workflows.lifecycle.models import ApprovalPolicy
from workflows.lifecycle.services import agent_transition, signoff_record, version_transition


@pytest.fixture(autouse=True)
def _fresh_gateway_state():
    """Loaded versions are kept by id per process, and ids repeat across test databases."""
    serving.cache_clear()
    cache.clear()
    yield
    serving.cache_clear()


@pytest.fixture
def no_shadow_minimum(db):
    """Promotions in these tests are not held back by a minimum shadow period."""
    ApprovalPolicy.objects.update(min_shadow_hours=0, min_shadow_requests=0)


@pytest.fixture
def victor(credit_model):
    user = factories.make_user("victor")
    factories.grant(model=credit_model, user=user, role="viewer")
    return user


@pytest.fixture
def champion(version, alice, oscar, no_shadow_minimum) -> ModelVersion:
    return make_champion(version, submitter=alice, operator=oscar)


@pytest.fixture
def two_versions(credit_model, version, alice, oscar, datasets, no_shadow_minimum):
    """v1 champion and v2 (a classifier that disagrees on many rows) challenger."""
    from tests.testsuites.helpers import disagreeing_classifier_onnx, upload_version

    first = make_champion(version, submitter=alice, operator=oscar)
    second = to_challenger(
        upload_version(credit_model, alice, disagreeing_classifier_onnx(), datasets), submitter=alice, operator=oscar
    )
    return first, second


def to_challenger(version, *, submitter, operator) -> ModelVersion:
    """Walk a draft version to challenger through the lifecycle services."""
    agent = service_account_get("test-runner")
    version_transition(version=version, name="submit", actor=submitter)
    for name in ("pass_tests", "pass_warmup"):
        agent_transition(version=version, name=name, agent=agent, agent_name="test-runner", annotation="ok")
    signoff_record(
        version=ModelVersion.objects.get(pk=version.pk),
        signer=_reviewer_of(version.model),
        decision="approve",
        annotation="Reviewed the evidence.",
        password=factories.PASSWORD,
    )
    version_transition(version=version, name="promote_to_challenger", actor=operator, annotation="shadow")
    return ModelVersion.objects.get(pk=version.pk)


def rows_of(version, n: int = 1, offset: int = 0) -> list[dict]:
    """n rows of the validation data, with the version's features."""
    from governance.demo import sample_models

    _train, valid, _target = sample_models.breast_cancer_frames()
    frame = valid[version.feature_names].iloc[offset : offset + n]
    return [{name: float(value) for name, value in row.items()} for row in frame.to_dict(orient="records")]
