"""Test data in one place: users with roles, models with grants, datasets and versions."""

from __future__ import annotations

import io
from functools import lru_cache

from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.access.models import User
from governance.access.services import grant_give
from governance.demo import sample_models
from governance.registry import services
from governance.registry.models import Dataset, MLModel, ModelVersion

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, *roles: str, password: str = PASSWORD, **extra) -> User:
    extra.setdefault("first_name", username.capitalize())
    extra.setdefault("last_name", "Tester")
    extra.setdefault("email", f"{username}@example.com")
    user = User.objects.create_user(username=username, password=password, **extra)
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


@lru_cache(maxsize=None)
def classifier_files() -> dict[str, bytes]:
    """A small breast-cancer classifier as ONNX and skops, with its CSVs (built once)."""
    train, valid, target = sample_models.breast_cancer_frames()
    features = list(train.columns.drop(target))[:8]
    model = sample_models.train_classifier(train, target, features=features)
    columns = features + [target]
    return {
        "train_csv": sample_models.dataframe_to_csv_bytes(train[columns]),
        "valid_csv": sample_models.dataframe_to_csv_bytes(valid[columns]),
        "onnx": sample_models.to_onnx_bytes(model, len(features)),
        "skops": sample_models.to_skops_bytes(model),
        "target": target,
    }


@lru_cache(maxsize=None)
def regressor_files() -> dict[str, bytes]:
    train, valid, target = sample_models.diabetes_frames()
    model = sample_models.train_regressor(train, target)
    return {
        "train_csv": sample_models.dataframe_to_csv_bytes(train),
        "valid_csv": sample_models.dataframe_to_csv_bytes(valid),
        "onnx": sample_models.to_onnx_bytes(model, train.shape[1] - 1),
        "target": target,
    }


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def make_model(
    owner: User,
    *,
    name: str = "Credit risk",
    risk_tier: str = "medium",
    task: str = "classification",
    confirmed: bool = True,
    **grants,
) -> MLModel:
    """A model owned by ``owner``; ``grants`` maps a role to users, e.g. reviewer=[carol].

    The owner's tier is confirmed (by the model-risk admin, ``risk_admin``) unless
    ``confirmed=False`` leaves it the owner's proposal.
    """
    model = services.model_create(user=owner, name=name, risk_tier=risk_tier, task=task)
    if confirmed:
        services.model_risk_tier_confirm(
            model=model, actor=risk_admin(), risk_tier=risk_tier, reason="Confirmed in a test."
        )
        model.refresh_from_db()
    for role, users in grants.items():
        for user in users:
            grant(model=model, user=user, role=role)
    return model


def risk_admin() -> User:
    """The admin who confirms tiers and gives reviewer and operator grants in tests' set-ups."""
    user = User.objects.filter(username="risk-admin").first()
    return user or make_user("risk-admin", "admin")


# The grants a model's owner gives; the others are given by an admin (see permissions.GRANT_GIVERS).
OWNER_GIVEN_ROLES = ("owner", "contributor", "viewer")


def grant(*, model: MLModel, role: str, user: User | None = None, group=None, granted_by: User | None = None):
    """Give a grant through the service, as ``granted_by`` (default: the model's creator, its
    first owner, for the roles owners give; ``risk_admin`` for reviewer and operator grants);
    returns the grant."""
    if granted_by is None:
        granted_by = model.created_by if role in OWNER_GIVEN_ROLES else risk_admin()
    given, _ = grant_give(actor=granted_by, model=model, role=role, user=user, group=group)
    return given


def step(version: ModelVersion, name: str, actor, annotation: str = "", agent_name: str = "") -> ModelVersion:
    """Move ``version`` along one edge of the graph through the door that edge has: a reviewer's
    sign-off for approve, reject and request_changes (with one finding), the agents' entry point
    for theirs, else a person's."""
    from workflows.lifecycle import services as lifecycle
    from workflows.lifecycle.rules import RULES

    rule = RULES[name]
    if rule.via_signoff:
        lifecycle.signoff_record(
            version=version,
            signer=actor,
            decision=name,
            annotation=annotation or f"{name} in a test",
            password=PASSWORD,
            findings=[{"description": "Explain the drop in recall.", "severity": "medium"}]
            if name == "request_changes" else None,
        )
        version.refresh_from_db()
        return version
    if rule.agent_only:
        return lifecycle.agent_transition(
            version=version, name=name, agent=actor, agent_name=agent_name, annotation=annotation
        )
    return lifecycle.version_transition(version=version, name=name, actor=actor, annotation=annotation)


def shadow_minimums(*, hours: int = 0, requests: int = 0) -> None:
    """Set every risk tier's shadow minimums, as an admin does in the admin. Tests about other
    things than the promotion guardrails set them to 0, so a second champion is not held back."""
    from workflows.lifecycle.models import ApprovalPolicy

    ApprovalPolicy.objects.update(min_shadow_hours=hours, min_shadow_requests=requests)


def shadow_for(challenger: ModelVersion, *, hours: float, requests: int) -> None:
    """Make ``challenger`` look as if it had shadowed its model's champion for ``hours`` and
    ``requests``: both versions' ``state_changed_at`` moved that far back (a plain update, which
    never touches the state), and that many shadow scoring records written since then, as the
    gateway writes them."""
    from datetime import timedelta

    from django.utils import timezone

    from workflows.testsuites.models import ScoringRecord

    then = timezone.now() - timedelta(hours=hours)
    ModelVersion.objects.filter(pk=challenger.pk).update(state_changed_at=then)
    ModelVersion.objects.filter(model_id=challenger.model_id, state="champion").update(state_changed_at=then)
    prefix = f"shadow-{challenger.pk}-{timezone.now().timestamp()}-"
    ScoringRecord.objects.bulk_create(
        ScoringRecord(
            model_id=challenger.model_id, version=challenger, trace_id=f"{prefix}{n}", inputs=[{}], shadow=True
        )
        for n in range(requests)
    )
    ScoringRecord.objects.filter(trace_id__startswith=prefix).update(at=then)
    challenger.refresh_from_db()


def make_datasets(user: User, files: dict | None = None) -> tuple[Dataset, Dataset]:
    files = files or classifier_files()
    training = services.dataset_create(
        user=user, name="training", upload=upload("train.csv", files["train_csv"], "text/csv"), target=files["target"]
    )
    validation = services.dataset_create(
        user=user, name="validation", upload=upload("valid.csv", files["valid_csv"], "text/csv"), target=files["target"]
    )
    return training, validation


def make_version(model: MLModel, user: User, *, datasets: tuple[Dataset, Dataset] | None = None, fmt: str = "onnx") -> ModelVersion:
    files = classifier_files()
    training, validation = datasets or make_datasets(user)
    return services.version_create(
        user=user,
        model=model,
        artifact=upload(f"model.{fmt}", files[fmt]),
        training_dataset=training,
        validation_dataset=validation,
        code_repository="https://git.example.com/risk/credit",
        code_commit="3f2a1b9",
        note="First version.",
    )


def csv_bytes(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def onnx_constant_of_shape_bomb(side: int) -> bytes:
    """A valid ONNX model of about 200 bytes whose ``ConstantOfShape`` node makes a float
    tensor of side × side from a constant shape (an initializer): constant folding allocates it."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([side, side], dtype=np.int64), "shape")
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill", value=one),
        helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
        helper.make_node("Add", ["x", "total"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bomb",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[shape],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
