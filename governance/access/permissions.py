"""What a user may do on a model: decided here and nowhere else.

Pages, API endpoints, downloads and reports all ask these helpers.
"""

from __future__ import annotations

from typing import Iterable

from guardian.core import ObjectPermissionChecker

from .roles import CONTRIBUTE, MANAGE, OPERATE, REVIEW, SEE_ALL_ROLES, VIEW, GlobalRole


def sees_all_models(user) -> bool:
    """Auditors and admins see every model."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or any(user.has_role(role) for role in SEE_ALL_ROLES)


def model_perms(user, model, checker: ObjectPermissionChecker | None = None) -> set[str]:
    """The object-permission codenames the user holds on the model (directly or via groups)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    checker = checker or ObjectPermissionChecker(user)
    # guardian gives superusers every permission; we want their real grants here, and
    # superusers' visibility comes from sees_all_models instead.
    if user.is_superuser:
        return _explicit_perms(user, model)
    return set(checker.get_perms(model))


def _explicit_perms(user, model) -> set[str]:
    from governance.registry.models import MLModelGroupObjectPermission, MLModelUserObjectPermission

    direct = MLModelUserObjectPermission.objects.filter(user=user, content_object=model)
    via_groups = MLModelGroupObjectPermission.objects.filter(group__user=user, content_object=model)
    return set(direct.values_list("permission__codename", flat=True)) | set(
        via_groups.values_list("permission__codename", flat=True)
    )


def can_view_model(user, model) -> bool:
    return sees_all_models(user) or VIEW in model_perms(user, model)


def can_contribute(user, model) -> bool:
    return not _is_inactive(user) and CONTRIBUTE in model_perms(user, model)


def can_manage_grants(user, model) -> bool:
    """Owners and admins manage a model's grants."""
    if _is_inactive(user):
        return False
    return user.has_role(GlobalRole.ADMIN) or MANAGE in model_perms(user, model)


def is_owner(user, model) -> bool:
    return MANAGE in model_perms(user, model)


def is_reviewer(user, model) -> bool:
    """A reviewer holds the global validator role and the reviewer grant on the model."""
    return user.has_role(GlobalRole.VALIDATOR) and REVIEW in model_perms(user, model)


def is_operator(user, model) -> bool:
    """An operator holds the global operator role and the operator grant on the model."""
    return user.has_role(GlobalRole.OPERATOR) and OPERATE in model_perms(user, model)


def prefetch_model_perms(user, models: Iterable) -> ObjectPermissionChecker:
    """One checker with the permissions of many models loaded in two queries."""
    checker = ObjectPermissionChecker(user)
    models = list(models)
    if models and user.is_authenticated:
        checker.prefetch_perms(models)
    return checker


def _is_inactive(user) -> bool:
    return not user.is_authenticated or not user.is_active
