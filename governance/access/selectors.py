"""Reads of people, tokens and grants, filtered by who is asking (404 for what they may not see)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import ApiToken, ModelGrant, User
from .roles import GlobalRole


def is_admin(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_role(GlobalRole.ADMIN))


def user_get(*, viewer, username: str) -> User:
    """A user's account as ``viewer`` may see it: admins see everyone, others only themselves.

    Anyone else gets 404 rather than 403, so that the API does not tell who has an account.
    """
    if not (is_admin(viewer) or (viewer.is_authenticated and viewer.get_username() == username)):
        raise Http404("No such user.")
    user = User.objects.prefetch_related("groups").filter(username=username).first()
    if user is None:
        raise Http404("No such user.")
    return user


def owner_users(*, model, active_only: bool = False) -> QuerySet[User]:
    """The people who own the model now, by a grant of their own or through a group."""
    from .roles import ObjectRole

    owners = ModelGrant.objects.filter(model=model, role=ObjectRole.OWNER)
    users = User.objects.filter(
        Q(pk__in=owners.filter(user__isnull=False).values("user"))
        | Q(groups__in=owners.filter(group__isnull=False).values("group"))
    ).distinct()
    return users.filter(is_active=True) if active_only else users


def grants_of(*, model) -> QuerySet[ModelGrant]:
    return ModelGrant.objects.filter(model=model).select_related("model", "user", "group", "granted_by").order_by(
        "created_at", "id"
    )


def grant_get(*, model, pk: int) -> ModelGrant:
    grant = grants_of(model=model).filter(pk=pk).first()
    if grant is None:
        raise Http404("No such grant.")
    return grant


def tokens_of(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("user").order_by("-created_at", "-id")


def token_get(*, user, pk: int) -> ApiToken:
    """One of the user's own tokens; someone else's token is 404."""
    token = tokens_of(user=user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    return token
