"""What a user may do on a model: decided here and nowhere else.

Pages, API endpoints, downloads and reports all ask these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from guardian.core import ObjectPermissionChecker

from .roles import CONTRIBUTE, MANAGE, OPERATE, REVIEW, SEE_ALL_ROLES, VIEW, GlobalRole, ObjectRole


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


def view_granted(user, model_ref="pk"):
    """A boolean expression, true on the models whose ``model_ref`` the user holds the view grant
    on (directly or through a group): what ``can_view_model`` decides from grants, inside one
    query, for the paths that read a model and the caller's right to it together. Callers check
    ``sees_all_models`` first; superusers and inactive users are decided there and here alike."""
    from django.db.models import Exists, OuterRef, Value

    from governance.registry.models import MLModelGroupObjectPermission, MLModelUserObjectPermission

    if _is_inactive(user):
        return Value(False)
    direct = MLModelUserObjectPermission.objects.filter(
        user_id=user.pk, content_object_id=OuterRef(model_ref), permission__codename=VIEW
    )
    via_groups = MLModelGroupObjectPermission.objects.filter(
        group__user=user.pk, content_object_id=OuterRef(model_ref), permission__codename=VIEW
    )
    return Exists(direct) | Exists(via_groups)


def can_contribute(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    return not _is_inactive(user) and CONTRIBUTE in model_perms(user, model, checker)


def can_manage_grants(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    """Whether the user gives or removes grants of at least one role on the model (the sharing
    page and the grants API open for them)."""
    return bool(grant_roles_given_by(user, model, checker))


def can_give_grant(user, model, role: str, checker: ObjectPermissionChecker | None = None) -> bool:
    """Who gives (and takes away) a grant of ``role`` on the model: ``GRANT_GIVERS``."""
    return holds_any(user, model, GRANT_GIVERS.get(role, ()), checker)


def grant_roles_given_by(user, model, checker: ObjectPermissionChecker | None = None) -> list[str]:
    """The object roles the user may give and remove on the model, in ``ObjectRole`` order."""
    if _is_inactive(user):
        return []
    if checker is None:
        checker = ModelPermissionChecker(user)
    return [role for role in ObjectRole.values if can_give_grant(user, model, role, checker)]


def can_confirm_risk_tier(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    """Who confirms or changes a model's risk tier: ``RISK_TIER_CONFIRMERS``."""
    return holds_any(user, model, RISK_TIER_CONFIRMERS, checker)


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


# --- Who holds what: the permission grid's columns and the rules built from them ---------------


@dataclass(frozen=True)
class Holder:
    """A kind of person a rule names, declared as data: the global role they hold, the object
    permissions (from grants) they hold, and those they must not hold.

    ``matches`` decides from roles and permissions given as sets (the admin's permission grid);
    ``test`` decides for a real user on a real model (every rule). Both read the same fields,
    so the grid cannot say other than the rules.
    """

    label: str
    role: str = ""
    perm: str = ""
    # The holder must not hold this permission on the model (a validator independent of it).
    lacks_perm: str = ""
    # The holder must see the model (through a grant, or a role that sees every model).
    sees_model: bool = False

    def matches(self, *, roles: set[str], perms: set[str]) -> bool:
        if self.role and self.role not in roles:
            return False
        if self.perm and self.perm not in perms:
            return False
        if self.lacks_perm and self.lacks_perm in perms:
            return False
        if self.sees_model and VIEW not in perms and not roles & set(SEE_ALL_ROLES):
            return False
        return True

    def test(self, user, model, checker: ObjectPermissionChecker | None = None) -> bool:
        if _is_inactive(user):
            return False
        roles = set(user.role_names)
        perms = model_perms(user, model, checker) if (self.perm or self.lacks_perm or self.sees_model) else set()
        return self.matches(roles=roles, perms=perms)


HOLDERS: dict[str, Holder] = {
    "owner": Holder("Owner (owner grant)", perm=MANAGE),
    "contributor": Holder("Owner or contributor (grant)", perm=CONTRIBUTE),
    "reviewer": Holder("Reviewer (validator role and reviewer grant)", role=GlobalRole.VALIDATOR, perm=REVIEW),
    "validator": Holder(
        "Validator who can see the model and is not its owner or contributor",
        role=GlobalRole.VALIDATOR, lacks_perm=CONTRIBUTE, sees_model=True,
    ),
    "operator": Holder("Operator (operator role and operator grant)", role=GlobalRole.OPERATOR, perm=OPERATE),
    "admin": Holder("Admin", role=GlobalRole.ADMIN),
}

# Who gives and removes each object role: the model's owners share access to it; the model-risk
# function (validators independent of the model) chooses its reviewers; admins give any grant,
# and are the only ones to give operator grants.
GRANT_GIVERS: dict[str, tuple[str, ...]] = {
    ObjectRole.OWNER: ("owner", "admin"),
    ObjectRole.CONTRIBUTOR: ("owner", "admin"),
    ObjectRole.REVIEWER: ("validator", "admin"),
    ObjectRole.OPERATOR: ("admin",),
    ObjectRole.VIEWER: ("owner", "admin"),
}

# Who confirms or changes a model's risk tier (the owner's is only a proposal).
RISK_TIER_CONFIRMERS: tuple[str, ...] = ("validator", "admin")


def holds_any(user, model, holders: Iterable[str], checker: ObjectPermissionChecker | None = None) -> bool:
    """Whether the user is one of ``holders`` (keys of ``HOLDERS``) on the model."""
    if _is_inactive(user):
        return False
    if checker is None:
        checker = ModelPermissionChecker(user)
    return any(HOLDERS[key].test(user, model, checker) for key in holders)
