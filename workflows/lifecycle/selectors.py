"""Reads of the lifecycle: the review queue, sign-offs and what a version needs."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from governance.access import permissions
from governance.access.roles import GlobalRole
from governance.registry.models import MLModel, ModelVersion, VersionState

from .models import Decision, SignOff, VersionAuthor


def authored_by(user) -> Q:
    """The four-eyes rule's one definition, as a filter on versions: those the user uploaded,
    submitted or whose model they owned when it was submitted (``VersionAuthor``, a fact that
    giving up a grant does not change), and those of models they own now. Nobody signs these."""
    owned = get_objects_for_user(
        user, "registry.manage_mlmodel", klass=MLModel, accept_global_perms=False, with_superuser=False
    )
    authored = VersionAuthor.objects.filter(version=OuterRef("pk"), user=user)
    return Q(submitted_by=user) | Q(Exists(authored)) | Q(model__in=owned)



AUTHOR_REFUSAL = "You submitted this version or own this model; a reviewer independent of it must sign."


def authored_by_row(version: ModelVersion, user_ref: str) -> dict:
    """``authored_by`` read on rows that each name a user (``user_ref``, e.g. sign-offs and their
    signers) for one version: ``author_`` is true where that user uploaded or submitted it or
    owned its model when it was submitted (``VersionAuthor``). Owning the model now is its
    manage grant, read with ``permissions.perms_annotation_of``; ``is_author`` puts the three
    together as ``authored_by`` does."""
    return {"author_": Exists(VersionAuthor.objects.filter(version=version.pk, user=OuterRef(user_ref)))}


def is_author(version: ModelVersion, user_pk, row) -> bool:
    """Whether the row annotated by ``authored_by_row`` and ``perms_annotation_of`` says the user
    is one of the version's authors: the same three cases as ``authored_by``."""
    return (
        version.submitted_by_id == user_pk
        or row.author_
        or getattr(row, f"{permissions.PERM_ALIAS}{permissions.MANAGE}")
    )


def authorship_refusal(*, version: ModelVersion, user) -> str | None:
    """Why ``user`` may not sign ``version`` as one of its authors, or None."""
    if ModelVersion.objects.filter(pk=version.pk).filter(authored_by(user)).exists():
        return AUTHOR_REFUSAL
    return None


def review_queue(*, user) -> QuerySet[ModelVersion]:
    """Versions waiting for this user's sign-off, oldest in review first.

    Only models where the user is a reviewer (validator role + reviewer grant, directly or
    through a group); never versions they authored (``authored_by``); not those they signed
    already. Rows carry ``approvals_count``; model and submitter are joined.
    """
    if not user.is_authenticated or not user.is_active or user.is_service_account:
        return ModelVersion.objects.none()
    if not user.has_role(GlobalRole.VALIDATOR):
        return ModelVersion.objects.none()
    reviewed = get_objects_for_user(
        user, "registry.review_mlmodel", klass=MLModel, accept_global_perms=False, with_superuser=False
    )
    signed = SignOff.objects.filter(version=OuterRef("pk"), signer=user)
    return (
        ModelVersion.objects.filter(state=VersionState.IN_REVIEW, model__in=reviewed)
        .exclude(authored_by(user))
        .exclude(Exists(signed))
        .select_related("model", "submitted_by", "resubmission_of")
        .annotate(approvals_count=Count("signoffs", filter=Q(signoffs__decision=Decision.APPROVE)))
        .order_by("state_changed_at", "pk")
    )


def signoffs_of(version: ModelVersion) -> list[SignOff]:
    """The version's sign-offs, oldest first; uses ``prefetch_related("signoffs")`` when done.
    Read here, they come with their findings (the pages name an approval with conditions), in
    one query whatever their number."""
    prefetched = getattr(version, "_prefetched_objects_cache", {}).get("signoffs")
    if prefetched is not None:
        return sorted(prefetched, key=lambda signoff: (signoff.at, signoff.pk))
    return list(version.signoffs.prefetch_related("findings").order_by("at", "id"))


