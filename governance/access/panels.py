"""The access panel on a model's page: who holds which grant, and a link to manage them."""

from . import permissions, selectors
from .roles import ObjectRole


def model_access_context(request, model) -> dict:
    by_role: dict[str, list] = {}
    for grant in selectors.grants_of(model=model):
        by_role.setdefault(grant.role, []).append(grant)
    roles = [(label, by_role[value]) for value, label in ObjectRole.choices if value in by_role]
    return {"model": model, "roles": roles, "can_manage": permissions.can_manage_grants(request.user, model)}
