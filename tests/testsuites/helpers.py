"""Test helpers: submit a version, walk it to warming_up or champion, build broken ONNX models, record production inputs."""

from __future__ import annotations

import uuid

import numpy as np

from governance.access.services import service_account_get
from governance.registry import services as registry_services
from governance.registry.models import ModelVersion
from workflows.lifecycle.services import agent_transition, signoff_record, version_transition
from workflows.testsuites.models import ScoringRecord, WarmupRun

from .. import factories


def submit(version, user, capture):
    """Submit as ``user`` and run the after-commit steps (the test run is made and enqueued)."""
    with capture(execute=True):
        version_transition(version=version, name="submit", actor=user)


def state_of(version) -> str:
    return ModelVersion.objects.get(pk=version.pk).state


def to_warming_up(version, submitter) -> WarmupRun:
    """Submit and pass the tests (as the test runner), and make the warm-up run a worker would take."""
    agent = service_account_get("test-runner")
    version_transition(version=version, name="submit", actor=submitter)
    agent_transition(version=version, name="pass_tests", agent=agent, agent_name="test-runner", annotation="ok")
    return WarmupRun.objects.create(version=version)


def _reviewer_of(model):
    """A validator with the reviewer grant on the model (made if the model has none)."""
    from governance.access.models import User

    reviewer = User.objects.filter(username="helper-reviewer").first()
    if reviewer is None:
        reviewer = factories.make_user("helper-reviewer", "validator")
    factories.grant(model=model, user=reviewer, role="reviewer")
    return reviewer


def make_champion(version, *, submitter, operator) -> ModelVersion:
    """Walk a draft version to champion through the transition service (agents and sign-off)."""
    agent = service_account_get("test-runner")
    version_transition(version=version, name="submit", actor=submitter)
    for name in ("pass_tests", "pass_warmup"):
        agent_transition(version=version, name=name, agent=agent, agent_name="test-runner", annotation="ok")
    reviewer = _reviewer_of(version.model)
    signoff_record(
        version=ModelVersion.objects.get(pk=version.pk),
        signer=reviewer,
        decision="approve",
        annotation="Reviewed the evidence.",
        password=factories.PASSWORD,
    )
    version_transition(version=version, name="promote_to_challenger", actor=operator, annotation="shadow")
    version_transition(version=version, name="promote_to_champion", actor=operator, annotation="go")
    return ModelVersion.objects.get(pk=version.pk)


def matmul_onnx(weights: np.ndarray) -> bytes:
    """A float model X[N, k] @ W: NaN weights give NaN outputs, W of width 3 a wrong shape."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, width = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["variable"])],
        "broken",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, k])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, width])],
        [numpy_helper.from_array(weights.astype(np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def reshape_onnx(k: int) -> bytes:
    """A model that raises at run time: it reshapes N x k inputs into rows of k + 1."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["X", "shape"], ["variable"])],
        "raises",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, k])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, k + 1])],
        [numpy_helper.from_array(np.array([-1, k + 1], dtype=np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def regression_version(model, user, artifact: bytes, datasets=None) -> ModelVersion:
    training, validation = datasets or factories.make_datasets(user, factories.regressor_files())
    return registry_services.version_create(
        user=user,
        model=model,
        artifact=factories.upload("model.onnx", artifact),
        training_dataset=training,
        validation_dataset=validation,
    )


def record_production(model, version, frame, *, per_request: int = 50) -> None:
    rows = frame.to_dict(orient="records")
    for start in range(0, len(rows), per_request):
        ScoringRecord.objects.create(
            model=model, version=version, trace_id=uuid.uuid4().hex, inputs=rows[start : start + per_request], outputs={}
        )


def disagreeing_classifier_onnx(flip_share: float = 0.3) -> bytes:
    """The sample classifier's features, trained on labels with a share flipped: it disagrees."""
    from governance.demo import sample_models

    train, _valid, target = sample_models.breast_cancer_frames()
    features = list(train.columns.drop(target))[:8]
    rng = np.random.default_rng(7)
    flipped = train.copy()
    mask = rng.random(len(flipped)) < flip_share
    flipped.loc[mask, target] = 1 - flipped.loc[mask, target]
    model = sample_models.train_classifier(flipped, target, features=features)
    return sample_models.to_onnx_bytes(model, len(features))


def upload_version(model, user, artifact: bytes, datasets, fmt: str = "onnx") -> ModelVersion:
    training, validation = datasets
    return registry_services.version_create(
        user=user, model=model, artifact=factories.upload(f"model.{fmt}", artifact),
        training_dataset=training, validation_dataset=validation,
    )


# A suite with one check of every kind, with bars the sample models pass (evidence tests).
EVERY_KIND_CLASSIFIER = [
    {"kind": "metric", "metric": "accuracy", "threshold": 0.8},
    {"kind": "metric", "metric": "roc_auc", "threshold": 0.8},
    {"kind": "no_regression", "metric": "accuracy", "tolerance": 0.05},
    {"kind": "schema"},
    {"kind": "fairness", "column": "mean radius", "metric": "accuracy", "threshold": 0.5},
    {"kind": "robustness", "noise": 0.01, "threshold": 0.2},
    {"kind": "latency", "rows": 1, "threshold": 1000},
    {"kind": "drift", "threshold": 5},
]
EVERY_KIND_REGRESSOR = [
    {"kind": "metric", "metric": "r2", "threshold": 0.2},
    {"kind": "metric", "metric": "rmse", "threshold": 100},
    {"kind": "no_regression", "metric": "r2", "tolerance": 0.05},
    {"kind": "schema"},
    {"kind": "fairness", "column": "sex", "metric": "mae", "threshold": 100},
    {"kind": "robustness", "noise": 0.01, "threshold": 0.5},
    {"kind": "latency", "rows": 1, "threshold": 1000},
    {"kind": "drift", "threshold": 5},
]
