"""Writes of the registry: models, datasets and versions.

Uploads are checked completely before anything is stored; a refused upload leaves nothing
behind (the temporary copy is removed, no row is written).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from governance.access import permissions
from governance.access.roles import GlobalRole
from governance.access.services import grant_first_owner
from governance.audit.models import EventKind
from governance.audit.services import audit_append
from governance.errors import ActionError, ActionForbidden

from . import typed_copy
from .intake import IntakeError, inspect_artifact, inspect_dataset_csv, resolve_input_schema
from .models import Dataset, MLModel, ModelVersion, RiskTier, RiskTierStatus, VersionState
from .storage import spooled_upload, store_blob

class RegistryError(ActionError):
    """Bad input to a registry write, with the form field it concerns."""


# Path segments of the portal's own pages under /models/, which a model's slug must not shadow.
RESERVED_SLUGS = {"new"}


def can_create_models(user) -> bool:
    return user.is_active and (user.has_role(GlobalRole.DATA_SCIENTIST) or user.has_role(GlobalRole.ADMIN))


def can_upload_datasets(user) -> bool:
    return user.is_active and any(
        user.has_role(role) for role in (GlobalRole.DATA_SCIENTIST, GlobalRole.VALIDATOR, GlobalRole.ADMIN)
    )


def model_create(
    *, user, name: str, risk_tier: str, task: str, slug: str = "", description: str = ""
) -> MLModel:
    """Register a model; its creator becomes its owner."""
    if not can_create_models(user):
        raise PermissionDenied("Only data scientists and admins register models.")
    slug = slug or slugify(name)[:100]
    if not slug:
        raise RegistryError("Give the model a name or slug made of letters or digits.", field="slug")
    if slug in RESERVED_SLUGS:
        raise RegistryError(f"The slug '{slug}' is reserved by the portal; choose another.", field="slug")
    try:
        with transaction.atomic():
            model = MLModel.objects.create(
                name=name, slug=slug, description=description, risk_tier=risk_tier, task=task, created_by=user
            )
            grant_first_owner(model=model, user=user)
    except IntegrityError:
        raise RegistryError(f"A model with the slug '{slug}' already exists.", field="slug", code="duplicate")
    return model


def model_risk_tier_confirm(*, model: MLModel, actor, risk_tier: str, reason: str) -> MLModel:
    """Confirm the model's risk tier, or change it, with a reason: validators independent of
    the model and admins only (``permissions.RISK_TIER_CONFIRMERS``), never its owners.

    The owner's tier is a proposal until then (``policy.effective_risk_tier``). The new tier
    applies to versions submitted from now on; a version already submitted keeps the tier it
    was submitted under. One audit entry records the old and new tier and the reason. Returns
    the fresh model.
    """
    reason = (reason or "").strip()
    if risk_tier not in RiskTier.values:
        raise RegistryError(
            f"Unknown risk tier '{risk_tier}'. Tiers: {', '.join(RiskTier.values)}.",
            code="invalid_choice", field="risk_tier",
        )
    if not permissions.can_confirm_risk_tier(actor, model):
        raise ActionForbidden(
            "Only validators independent of the model and admins confirm or change its risk tier.",
            code="risk_tier_not_allowed",
        )
    if not reason:
        raise RegistryError("Say why the tier is right: a reason is required.", code="reason_required", field="reason")
    with transaction.atomic():
        locked = MLModel.objects.select_for_update().get(pk=model.pk)
        old_tier, old_status = locked.risk_tier, locked.risk_tier_status
        locked.risk_tier = risk_tier
        locked.risk_tier_status = RiskTierStatus.CONFIRMED
        locked.risk_tier_confirmed_by = actor
        locked.risk_tier_confirmed_at = timezone.now()
        locked.risk_tier_reason = reason
        locked.save(
            update_fields=[
                "risk_tier", "risk_tier_status", "risk_tier_confirmed_by", "risk_tier_confirmed_at", "risk_tier_reason",
            ]
        )
        verb = "confirmed" if old_tier == risk_tier else f"changed from {old_tier} to"
        audit_append(
            kind=EventKind.CHANGE,
            action="model.risk_tier_confirmed",
            summary=f"Risk tier of {locked.name} {verb} {risk_tier}: {reason}",
            data={
                "old_tier": old_tier,
                "old_status": old_status,
                "new_tier": risk_tier,
                "reason": reason,
            },
            obj=locked,
            actor=actor,
        )
    return locked


def dataset_create(*, user, name: str, upload: UploadedFile, target: str = "") -> Dataset:
    """Store a CSV under its SHA-256 with its row count and column types."""
    if not can_upload_datasets(user):
        raise PermissionDenied("Only data scientists, validators and admins upload datasets.")
    limit = settings.GOVERNANCE_MAX_DATASET_BYTES
    with spooled_upload(upload, max_bytes=limit, field="file") as tmp:
        # Parsed once: the frame intake returns gives the row count and column types, and is
        # what the workers' pd.read_csv of the stored CSV gives (see typed_copy.py).
        info = inspect_dataset_csv(tmp, target=target or None, max_bytes=limit)
        path = store_blob(tmp, kind="datasets", sha256=info.sha256, suffix=".csv")
    typed = typed_copy.make(info.frame, csv_sha256=info.sha256, csv_size=info.size, media_root=settings.MEDIA_ROOT)
    info.frame = None  # the typed copy is written: hold the data no longer
    return Dataset.objects.create(
        name=name or upload.name,
        sha256=info.sha256,
        path=path,
        size=info.size,
        rows=info.rows,
        columns=info.columns,
        target=target or "",
        typed_path=typed[0] if typed else "",
        typed_sha256=typed[1] if typed else "",
        uploaded_by=user,
    )


def version_create_check(*, user, model: MLModel) -> None:
    """403 unless the user may upload versions of the model.

    The API calls it before it reads the form, so a caller without the grant hears 403 (not
    a 400 about datasets they cannot see): authorisation is answered before validation.
    """
    if not permissions.can_contribute(user, model):
        raise PermissionDenied("You need the owner or contributor grant on this model to upload versions.")


def version_create(
    *,
    user,
    model: MLModel,
    artifact: UploadedFile,
    training_dataset: Dataset,
    validation_dataset: Dataset,
    code_repository: str = "",
    code_commit: str = "",
    note: str = "",
    resubmission_of: int | None = None,
) -> ModelVersion:
    """Check and store a new version of a model, numbered after the last one (race-safe).

    ``resubmission_of``: the number of the model's version whose reviewers requested changes
    that this one answers (it must be in ``changes_requested``); the new version is linked to it.
    """
    version_create_check(user=user, model=model)
    _check_datasets_visible(user, training_dataset, validation_dataset)
    _check_datasets(training_dataset, validation_dataset)
    if resubmission_of is not None:
        _answered_version(model, resubmission_of)  # early, so a bad number stores nothing
    limit = settings.GOVERNANCE_MAX_ARTIFACT_BYTES
    with spooled_upload(artifact, max_bytes=limit, field="artifact") as tmp:
        info = inspect_artifact(
            tmp,
            artifact.name or "",
            max_bytes=limit,
            max_tensor_elements=settings.GOVERNANCE_MAX_ONNX_TENSOR_ELEMENTS,
        )
        schema = resolve_input_schema(info, training_dataset.columns, training_dataset.target or None)
        path = store_blob(tmp, kind="artifacts", sha256=info.sha256, suffix=f".{info.format}")
    with transaction.atomic():
        # Locked, so the version answered stays in changes_requested until the link is written.
        answered = _answered_version(model, resubmission_of, lock=True) if resubmission_of is not None else None
        # The UPDATE takes the model row's lock (PostgreSQL) or the write lock (SQLite) until
        # commit, so two uploads racing each get their own number and none is ever reused.
        MLModel.objects.filter(pk=model.pk).update(last_version_number=F("last_version_number") + 1)
        number = MLModel.objects.values_list("last_version_number", flat=True).get(pk=model.pk)
        version = ModelVersion.objects.create(
            model=model,
            number=number,
            artifact_sha256=info.sha256,
            artifact_path=path,
            artifact_size=info.size,
            artifact_filename=(artifact.name or "")[:255],
            format=info.format,
            input_schema=schema,
            artifact_details={
                "inputs": info.inputs,
                "outputs": info.outputs,
                "n_features": info.n_features,
                "model_class": info.model_class,
            },
            training_dataset=training_dataset,
            validation_dataset=validation_dataset,
            code_repository=code_repository,
            code_commit=code_commit,
            note=note,
            resubmission_of=answered,
            submitted_by=user,
        )
    return version


def _answered_version(model: MLModel, number, *, lock: bool = False) -> ModelVersion:
    """The version of ``model`` numbered ``number`` that is waiting for a resubmission; a
    RegistryError (400, field ``resubmission_of``) for any other number."""
    versions = ModelVersion.objects.filter(model=model)
    if lock:
        versions = versions.select_for_update()
    try:
        answered = versions.filter(number=int(number)).first()
    except (TypeError, ValueError):
        answered = None
    if answered is None:
        raise RegistryError(f"{model.name} has no version {number}.", field="resubmission_of", code="not_found")
    if answered.state != VersionState.CHANGES_REQUESTED:
        raise RegistryError(
            f"Version {answered.number} is not waiting for changes (it is {answered.get_state_display().lower()}): "
            "only a version whose reviewers requested changes is resubmitted.",
            field="resubmission_of",
            code="not_changes_requested",
        )
    return answered


def parse_code_ref(code_ref: str) -> tuple[str, str]:
    """Split 'repository@commit' (the API's code_ref) into its parts."""
    code_ref = (code_ref or "").strip()
    if not code_ref:
        return "", ""
    repository, sep, commit = code_ref.rpartition("@")
    if not sep or not repository or not commit:
        raise RegistryError(
            "code_ref must look like 'repository@commit', for example "
            "'https://git.example.com/risk/churn@3f2a1b9'.",
            field="code_ref",
        )
    return repository, commit


def _check_datasets_visible(user, training: Dataset, validation: Dataset) -> None:
    """A version may only use datasets its uploader can see, whichever door it comes through."""
    from .selectors import datasets_visible_to

    visible = set(
        datasets_visible_to(user).filter(pk__in=[training.pk, validation.pk]).values_list("pk", flat=True)
    )
    for field, dataset in (("training_dataset", training), ("validation_dataset", validation)):
        if dataset.pk not in visible:
            raise RegistryError(f"No dataset with id {dataset.pk} that you can see.", field=field)


def _check_datasets(training: Dataset, validation: Dataset) -> None:
    if not training.target:
        raise RegistryError(
            f"The training dataset '{training.name}' has no target column; upload it with its target named.",
            field="training_dataset",
            code="missing_target",
        )
    if not validation.target:
        raise RegistryError(
            f"The validation dataset '{validation.name}' has no target column; upload it with its target named.",
            field="validation_dataset",
            code="missing_target",
        )
    missing = [name for name in training.feature_names + [training.target] if name not in validation.column_names]
    if missing:
        raise RegistryError(
            "The validation dataset lacks columns of the training dataset: " + ", ".join(missing) + ".",
            field="validation_dataset",
            code="schema_mismatch",
        )


__all__ = [
    "IntakeError",
    "RegistryError",
    "dataset_create",
    "model_create",
    "model_risk_tier_confirm",
    "parse_code_ref",
    "version_create",
]
