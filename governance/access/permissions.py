"""What a user may do on a model: decided here and nowhere else.

Pages, API endpoints, downloads and reports all ask these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from guardian.core import ObjectPermissionChecker

from .roles import CONTRIBUTE, MANAGE, OPERATE, REVIEW, SEE_ALL_ROLES, VIEW, GlobalRole, ObjectRole


def sees_all_models(user) -> bool:
    """Auditors and admins see every model."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or any(user.has_role(role) for role in SEE_ALL_ROLES)


# The object permissions a grant carries, on registry.MLModel (see ``roles.OBJECT_ROLE_PERMISSIONS``).
MODEL_PERMS = (VIEW, CONTRIBUTE, REVIEW, OPERATE, MANAGE)

# Bumped by every write of object permissions in this process (``perms_changed``): a checker made
# before it reads the grants afresh, so a request that changes grants then checks them sees its
# own change.
_perm_writes = [0]


def perms_changed() -> None:
    """Object permissions were written: checkers kept for a request read them again."""
    _perm_writes[0] += 1


def _is_model(obj) -> bool:
    return obj._meta.label == "registry.MLModel"


class ModelPermissionChecker(ObjectPermissionChecker):
    """guardian's checker, reading a user's permissions on models from the models' own
    permission tables in one query (direct and group grants together), and giving superusers
    only the grants they really hold.

    guardian gives a superuser every permission on every object; here a superuser's
    visibility comes from ``sees_all_models``, and their object roles (owner, reviewer...)
    only from grants, so that e.g. an admin is not taken for the owner of every model.
    Other objects than models are guardian's.
    """

    def __init__(self, user):
        super().__init__(user)
        self._model_perms: dict = {}
        self.writes_seen = _perm_writes[0]
        # The transaction blocks it was made in (see ``checker_for``).
        self.blocks = tuple(connection.atomic_blocks)

    def prefetch_perms(self, objects):
        objects = list(objects)
        others = [obj for obj in objects if not _is_model(obj)]
        if others:
            super().prefetch_perms(others)
        missing = [obj.pk for obj in objects if _is_model(obj) and obj.pk not in self._model_perms]
        if missing:
            self._model_perms.update(_explicit_perms(self.user, missing))
        return True

    def get_perms(self, obj) -> list[str]:
        if not _is_model(obj):
            return super().get_perms(obj)
        if obj.pk not in self._model_perms:
            self.prefetch_perms([obj])
        return sorted(self._model_perms[obj.pk])

    def seed(self, model_pk, codenames: Iterable[str]) -> None:
        """Take the user's permissions on one model as read with it (``perms_annotation_of``)."""
        self._model_perms[model_pk] = frozenset(codenames)


def checker_for(user) -> ModelPermissionChecker:
    """The checker of ``user``'s grants: one per request for the user a request acts as (its
    grants are read once, whatever the number of questions), a new one for any other instance.

    The request's user is marked ``roles_read_once`` (``ActiveUserMiddleware``, the API's token
    check) and lives for that request only, so a grant given or taken away is seen on the very
    next request. The grants are read again after a write of permissions in this process, and
    inside a transaction block the checker was not made in: a service that decides under a row
    lock (``services.grant_revoke``) decides on the grants as they are once the lock is held.
    """
    if not getattr(user, "roles_read_once", False):
        return ModelPermissionChecker(user)
    checker = user.__dict__.get("_model_perm_checker")
    blocks = connection.atomic_blocks
    if (
        checker is None
        or checker.writes_seen != _perm_writes[0]
        or len(blocks) > len(checker.blocks)
        or any(block is not made for block, made in zip(blocks, checker.blocks))
    ):
        checker = user.__dict__["_model_perm_checker"] = ModelPermissionChecker(user)
    return checker


def model_perms(user, model, checker: ObjectPermissionChecker | None = None) -> set[str]:
    """The object-permission codenames the user holds on the model (directly or via groups)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if checker is None or (user.is_superuser and not isinstance(checker, ModelPermissionChecker)):
        checker = checker_for(user)
    return set(checker.get_perms(model))


def _explicit_perms(user, model_pks) -> dict:
    """{model pk: codenames} granted to the user directly or through groups (one query)."""
    from governance.registry.models import (
        MLModelGroupObjectPermission,
        MLModelUserObjectPermission,
    )

    pks = list(model_pks)
    found: dict = {pk: set() for pk in pks}
    direct = MLModelUserObjectPermission.objects.filter(user=user.pk, content_object_id__in=pks)
    via_groups = MLModelGroupObjectPermission.objects.filter(group__user=user.pk, content_object_id__in=pks)
    columns = ("content_object_id", "permission__codename")
    for pk, codename in direct.values_list(*columns).union(via_groups.values_list(*columns), all=True):
        found[pk].add(codename)
    return found


def _granted(user, codename: str, model_ref: str):
    """True on the rows whose model (``model_ref``) the user holds ``codename`` on, directly
    or through a group."""
    from django.db.models import Exists, OuterRef

    from governance.registry.models import MLModelGroupObjectPermission, MLModelUserObjectPermission

    direct = MLModelUserObjectPermission.objects.filter(
        user_id=user.pk, content_object_id=OuterRef(model_ref), permission__codename=codename
    )
    via_groups = MLModelGroupObjectPermission.objects.filter(
        group__user=user.pk, content_object_id=OuterRef(model_ref), permission__codename=codename
    )
    return Exists(direct) | Exists(via_groups)


PERM_ALIAS = "granted_"


def perms_annotation_of(user_ref: str, model_ref: str) -> dict:
    """Annotations that read, on each row, the permissions of the row's user (``user_ref``) on the
    row's model (``model_ref``), directly or through groups, for rows that each name their own
    user (sign-offs and their signers); ``perms_seed`` hands them to that user's checker."""
    from django.db.models import Exists, OuterRef

    from governance.registry.models import MLModelGroupObjectPermission, MLModelUserObjectPermission

    def granted(codename: str):
        direct = MLModelUserObjectPermission.objects.filter(
            user_id=OuterRef(user_ref), content_object_id=OuterRef(model_ref), permission__codename=codename
        )
        via_groups = MLModelGroupObjectPermission.objects.filter(
            group__user=OuterRef(user_ref), content_object_id=OuterRef(model_ref), permission__codename=codename
        )
        return Exists(direct) | Exists(via_groups)

    return {f"{PERM_ALIAS}{codename}": granted(codename) for codename in MODEL_PERMS}


def perms_seed(user, model, row=None) -> None:
    """Give the user's checker the permissions on ``model`` read with ``row`` (default: the
    model itself), annotated by ``perms_annotation_of``."""
    row = model if row is None else row
    if _is_inactive(user) or not hasattr(row, f"{PERM_ALIAS}{VIEW}"):
        return
    checker_for(user).seed(model.pk, [c for c in MODEL_PERMS if getattr(row, f"{PERM_ALIAS}{c}")])


# Every helper takes an optional checker from ``prefetch_model_perms`` so that list pages
# decide for many models without a query per row.


def can_view_model(user, model, checker: ObjectPermissionChecker | None = None) -> bool:
    return sees_all_models(user) or VIEW in model_perms(user, model, checker)


def view_granted(user, model_ref="pk"):
    """A boolean expression, true on the models whose ``model_ref`` the user holds the view grant
    on (directly or through a group): what ``can_view_model`` decides from grants, inside one
    query, for the paths that read a model and the caller's right to it together. Callers check
    ``sees_all_models`` first; superusers and inactive users are decided there and here alike."""
    from django.db.models import Value

    if _is_inactive(user):
        return Value(False)
    return _granted(user, VIEW, model_ref)


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
        checker = checker_for(user)
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
    checker = checker_for(user)
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
        checker = checker_for(user)
    return any(HOLDERS[key].test(user, model, checker) for key in holders)
