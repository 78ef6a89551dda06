"""Who hears of what: the people each kind of event goes to, read from grants and roles now.

Every list holds active people only, never service accounts, ordered by username.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from governance.access import permissions
from governance.access.models import ModelGrant, User
from governance.access.roles import GlobalRole, ObjectRole
from governance.access.selectors import owner_users
from governance.registry.models import MLModel, ModelVersion


def _people() -> QuerySet[User]:
    return User.objects.filter(is_active=True, is_service_account=False)


def _granted(model: MLModel, role: str) -> QuerySet[User]:
    """Active people holding ``role`` on the model, by a grant of their own or through a group."""
    grants = ModelGrant.objects.filter(model=model, role=role)
    return _people().filter(
        Q(pk__in=grants.filter(user__isnull=False).values("user"))
        | Q(groups__in=grants.filter(group__isnull=False).values("group"))
    ).distinct()


def reviewers_who_may_sign(version: ModelVersion) -> list[User]:
    """Everyone who may sign the version: the sign-off rule itself decides, for each person
    holding the reviewer grant (validator role, active, not an author or owner)."""
    from workflows.lifecycle.services import signoff_refusal

    candidates = _granted(version.model, ObjectRole.REVIEWER).order_by("username")
    return [user for user in candidates if signoff_refusal(version=version, user=user) is None]


def suite_proposal_deciders(proposal) -> list[User]:
    """Who may decide a test suite change: the decision rule itself decides, for each person
    holding the reviewer grant on the model (validators who do not own it, not its author)."""
    from workflows.testsuites.selectors import proposal_decision_refusal

    candidates = _granted(proposal.model, ObjectRole.REVIEWER).order_by("username")
    return [user for user in candidates if proposal_decision_refusal(user, proposal) is None]


def active_person(user) -> list[User]:
    """The person, while they may still be told of something (active, not a service account)."""
    return list(_people().filter(pk=user.pk)) if user is not None else []


def submitters_and_owners(version: ModelVersion) -> list[User]:
    """Who uploaded or submitted the version, and the model's owners now."""
    from workflows.lifecycle.models import AuthorRole, VersionAuthor

    authors = VersionAuthor.objects.filter(
        version=version, role__in=[AuthorRole.UPLOADER, AuthorRole.SUBMITTER]
    ).values("user")
    owners = owner_users(model=version.model).values("pk")
    people = _people().filter(Q(pk=version.submitted_by_id) | Q(pk__in=authors) | Q(pk__in=owners))
    return list(people.distinct().order_by("username"))


def owners(model: MLModel) -> list[User]:
    return list(_people().filter(pk__in=owner_users(model=model).values("pk")).order_by("username"))


def operators(model: MLModel) -> list[User]:
    """Operators who may promote: the operator role and the operator grant on the model."""
    return [user for user in _granted(model, ObjectRole.OPERATOR).order_by("username") if permissions.is_operator(user, model)]


def owners_and_operators(model: MLModel) -> list[User]:
    found = {user.pk: user for user in owners(model) + operators(model)}
    return sorted(found.values(), key=lambda user: user.username)


def admins() -> list[User]:
    return list(
        _people().filter(Q(is_superuser=True) | Q(groups__name=GlobalRole.ADMIN)).distinct().order_by("username")
    )


def holds_reviewer_grant(user) -> bool:
    """A validator holding the reviewer grant on some model (directly or through a group)."""
    if not user.is_authenticated or not user.has_role(GlobalRole.VALIDATOR):
        return False
    grants = ModelGrant.objects.filter(role=ObjectRole.REVIEWER)
    return grants.filter(Q(user=user) | Q(group__in=user.groups.all())).exists()
