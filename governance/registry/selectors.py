"""Reads of the registry, always filtered by what the user may see.

An object the user may not see is answered with 404, so that its existence does not leak.
"""

from __future__ import annotations

from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from governance.access import permissions
from governance.access.models import ModelGrant
from governance.access.permissions import sees_all_models
from governance.access.roles import ObjectRole

from .models import Dataset, MLModel, ModelVersion, VersionState


def models_visible_to(user) -> QuerySet[MLModel]:
    if not user.is_authenticated or not user.is_active:
        return MLModel.objects.none()
    if sees_all_models(user):
        return MLModel.objects.all()
    return get_objects_for_user(
        user, "registry.view_mlmodel", klass=MLModel, accept_global_perms=False, with_superuser=False
    )


def model_list(
    *, user, search: str = "", risk_tier: str = "", state: str = ""
) -> QuerySet[MLModel]:
    """The model list: each row annotated with its champion and its newest version's state.

    Rows carry their creator's username and their owner grants (``owner_grants``), loaded
    with the page in a fixed number of queries whatever its size.
    """
    # Version numbers are never reused and versions never deleted, so the newest version is
    # the one numbered last_version_number: a unique-index lookup rather than a sort per row.
    # No ordering in the subqueries: ModelVersion's default one would join the model table.
    newest = ModelVersion.objects.filter(model=OuterRef("pk"), number=OuterRef("last_version_number")).order_by()
    champion = ModelVersion.objects.filter(model=OuterRef("pk"), state=VersionState.CHAMPION).order_by()
    models = models_visible_to(user).annotate(
        champion_number=Subquery(champion.values("number")[:1]),
        newest_number=Subquery(newest.values("number")[:1]),
        newest_state=Subquery(newest.values("state")[:1]),
    )
    if search:
        models = models.filter(Q(name__icontains=search) | Q(slug__icontains=search) | Q(description__icontains=search))
    if risk_tier:
        models = models.filter(risk_tier=risk_tier)
    if state:
        models = models.filter(newest_state=state)
    owners = Prefetch(
        "grants",
        queryset=ModelGrant.objects.filter(role=ObjectRole.OWNER)
        .select_related("user", "group")
        .only("model_id", "role", "user__username", "group__name"),
        to_attr="owner_grants",
    )
    # The creator's username as a column rather than a whole user object per row.
    models = models.annotate(
        created_by_username=F("created_by__username"),
        risk_tier_confirmed_by_username=F("risk_tier_confirmed_by__username"),
    )
    return models.prefetch_related(owners).order_by("name", "pk")


def model_get(*, user, slug: str) -> MLModel:
    """The model, if the user may see it. The user's permissions on it are read once, in one
    query of the request's checker, and answer every later question of the request about it.
    (Read in a query of their own rather than as annotations of this one: Django builds ten
    permission subqueries more slowly than the database answers one plain query.)"""
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such model.")
    model = MLModel.objects.filter(slug=slug).first()
    if model is None:
        raise Http404("No such model.")
    if not permissions.can_view_model(user, model):
        raise Http404("No such model.")
    return model


def versions_of(*, model: MLModel, related=None) -> QuerySet[ModelVersion]:
    """The model's versions, newest first, with their datasets, submitter and the version they
    answer; ``related(queryset)`` adds what the caller shows of each (the API's fields)."""
    versions = model.versions.select_related(
        "training_dataset", "validation_dataset", "submitted_by", "resubmission_of"
    ).order_by("-number")
    return related(versions) if related else versions


def version_get(*, user, slug: str, number: int, related=None) -> ModelVersion:
    """The version, if the user may see its model: version and model in one query, the user's
    permissions as in ``model_get``. ``related(queryset)`` adds what the caller shows (the API's
    fields)."""
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such version.")
    versions = (
        ModelVersion.objects.select_related(
            "model", "training_dataset", "validation_dataset", "submitted_by", "resubmission_of"
        )
        .filter(model__slug=slug, number=number)
    )
    version = (related(versions) if related else versions).first()
    if version is None:
        raise Http404("No such version.")
    if not permissions.can_view_model(user, version.model):
        raise Http404("No such version.")
    return version


def champion_of(model: MLModel) -> ModelVersion | None:
    return model.versions.filter(state=VersionState.CHAMPION).first()


def datasets_visible_to(user) -> QuerySet[Dataset]:
    """Datasets the user uploaded, or that versions of the models they may see use."""
    if not user.is_authenticated or not user.is_active:
        return Dataset.objects.none()
    if sees_all_models(user):
        return Dataset.objects.all()
    versions = ModelVersion.objects.filter(model__in=models_visible_to(user))
    return Dataset.objects.filter(
        Q(uploaded_by=user)
        | Q(pk__in=versions.values("training_dataset"))
        | Q(pk__in=versions.values("validation_dataset"))
    )


def dataset_list(*, user) -> QuerySet[Dataset]:
    """The datasets list (page and API): those the user may see, newest first, with their uploader."""
    return datasets_visible_to(user).select_related("uploaded_by").order_by("-created_at", "-id")


def dataset_get(*, user, pk: int) -> Dataset:
    dataset = datasets_visible_to(user).filter(pk=pk).first()
    if dataset is None:
        raise Http404("No such dataset.")
    return dataset


def versions_using_dataset(*, user, dataset: Dataset) -> QuerySet[ModelVersion]:
    """The versions, of models the user may see, trained or validated on the data set."""
    return (
        ModelVersion.objects.filter(model__in=models_visible_to(user))
        .filter(Q(training_dataset=dataset) | Q(validation_dataset=dataset))
        .select_related("model")
        .order_by("model__name", "-number")
    )


def owners_of(model: MLModel) -> list[str]:
    """Usernames (and ``group:<name>``) holding the owner grant on the model."""
    grants = ModelGrant.objects.filter(model=model, role=ObjectRole.OWNER).select_related("user", "group")
    return [grant.grantee_name for grant in grants]
