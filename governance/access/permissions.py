"""What a user may do on a model: decided here and nowhere else.

Pages, API endpoints, downloads and reports all ask these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable

from guardian.core import ObjectPermissionChecker

from .roles import CONTRIBUTE, MANAGE, OPERATE, REVIEW, SEE_ALL_ROLES, VIEW, GlobalRole


def sees_all_models(user) -> bool:
    """Auditors and admins see every model."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or any(user.has_role(role) for role in SEE_ALL_ROLES)


class ModelPermissionChecker(ObjectPermissionChecker):
    """guardian's checker, except that superusers get the grants they really hold.

    guardian gives a superuser every permission on every object; here a superuser's
    visibility comes from ``sees_all_models``, and their object roles (owner, reviewer...)
    only from grants, so that e.g. an admin is not taken for the owner of every model.
    """

    def __init__(self, user):
        super().__init__(user)
        self._explicit: dict = {}

    def prefetch_perms(self, objects):
        if not self.user.is_superuser:
            return super().prefetch_perms(objects)
        models = [model for model in objects if model.pk not in self._explicit]
        if models:
            self._explicit.update(_explicit_perms(self.user, models))
        return True

    def get_perms(self, obj) -> list[str]:
        if not self.user.is_superuser:
            return super().get_perms(obj)
        if obj.pk not in self._explicit:
            self._explicit.update(_explicit_perms(self.user, [obj]))
        return sorted(self._explicit[obj.pk])


def model_perms(user, model, checker: ObjectPermissionChecker | None = None) -> set[str]:
    """The object-permission codenames the user holds on the model (directly or via groups)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if checker is None or (user.is_superuser and not isinstance(checker, ModelPermissionChecker)):
        checker = ModelPermissionChecker(user)
    return set(checker.get_perms(model))


def _explicit_perms(user, models) -> dict:
    """{model pk: codenames} granted to the user directly or through groups (two queries)."""
    from governance.registry.models import (
        MLModelGroupObjectPermission,
        MLModelUserObjectPermission,
    )

    pks = [model.pk for model in models]
    found: dict = {pk: set() for pk in pks}
    direct = MLModelUserObjectPermission.objects.filter(user=user, content_object_id__in=pks)
    via_groups = MLModelGroupObjectPermission.objects.filter(group__user=user, content_object_id__in=pks)
    for rows in (direct, via_groups):
        for pk, codename in rows.values_list("content_object_id", "permission__codename"):
            found[pk].add(codename)
    return found


# Every helper takes an optional checker from ``prefetch_model_perms`` so that list pages
# decide for many models without a query per row.


def can_view_model(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    return sees_all_models(user) or VIEW in model_perms(user, model, checker)


def can_contribute(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    return not _is_inactive(user) and CONTRIBUTE in model_perms(user, model, checker)


def can_manage_grants(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    """Owners and admins manage a model's grants."""
    if _is_inactive(user):
        return False
    return user.has_role(GlobalRole.ADMIN) or MANAGE in model_perms(user, model, checker)


def can_give_grant(user, model, role: str, checker: ObjectPermissionChecker | None = None) -> bool:
    """Who gives (and takes away) a grant of ``role`` on the model: its owners and admins."""
    return can_manage_grants(user, model, checker)


def is_owner(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    return MANAGE in model_perms(user, model, checker)


def is_reviewer(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    """A reviewer holds the global validator role and the reviewer grant on the model."""
    return user.has_role(GlobalRole.VALIDATOR) and REVIEW in model_perms(user, model, checker)


def is_operator(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    """An operator holds the global operator role and the operator grant on the model."""
    return user.has_role(GlobalRole.OPERATOR) and OPERATE in model_perms(user, model, checker)


def prefetch_model_perms(user, models: Iterable) -> ObjectPermissionChecker:
    """One checker with the permissions of many models loaded in two queries."""
    checker = ModelPermissionChecker(user)
    models = list(models)
    if models and user.is_authenticated and user.is_active:
        checker.prefetch_perms(models)
    return checker


def _is_inactive(user) -> bool:
    return not user.is_authenticated or not user.is_active
