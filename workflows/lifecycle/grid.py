"""The permission grid: who may do what, read from the tables the rules are built from.

Columns are kinds of people (``PERSONAS``: the global roles they hold and the grant they hold on
the model); rows are actions, each naming its holders (keys of ``permissions.HOLDERS``) exactly
as the rule that decides it does: the transitions per source state (``rules.RULES``), the
sign-off (``rules.SIGNERS``), giving each grant (``permissions.GRANT_GIVERS``) and confirming
the risk tier (``permissions.RISK_TIER_CONFIRMERS``). A cell is decided by the same
``Holder.matches`` the rules call, so the admin's grid cannot say other than the code;
``tests/lifecycle/test_permission_grid.py`` checks every cell against the real rule functions.
Other rules built on ``permissions.HOLDERS`` add their rows to ``actions``.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.access.permissions import GRANT_GIVERS, HOLDERS, RISK_TIER_CONFIRMERS
from governance.access.roles import OBJECT_ROLE_PERMISSIONS, GlobalRole, ObjectRole
from governance.registry.models import ModelVersion, VersionState

from .rules import AGENT, RULES, SIGNERS, USER_TRANSITIONS


@dataclass(frozen=True)
class Persona:
    """A column of the grid: a person holding ``roles`` and, on the model, ``grant``."""

    key: str
    label: str
    roles: tuple[str, ...]
    grant: str = ""

    @property
    def perms(self) -> set[str]:
        return set(OBJECT_ROLE_PERMISSIONS[self.grant]) if self.grant else set()


PERSONAS: list[Persona] = [
    Persona("owner", "Owner (data scientist, owner grant)", (GlobalRole.DATA_SCIENTIST,), ObjectRole.OWNER),
    Persona(
        "contributor", "Contributor (data scientist, contributor grant)", (GlobalRole.DATA_SCIENTIST,),
        ObjectRole.CONTRIBUTOR,
    ),
    Persona("viewer", "Viewer (data scientist, viewer grant)", (GlobalRole.DATA_SCIENTIST,), ObjectRole.VIEWER),
    Persona("reviewer", "Reviewer (validator, reviewer grant)", (GlobalRole.VALIDATOR,), ObjectRole.REVIEWER),
    Persona("validator", "Validator (viewer grant only)", (GlobalRole.VALIDATOR,), ObjectRole.VIEWER),
    Persona("operator", "Operator (operator, operator grant)", (GlobalRole.OPERATOR,), ObjectRole.OPERATOR),
    Persona("auditor", "Auditor (no grant)", (GlobalRole.AUDITOR,)),
    Persona("admin", "Admin (no grant)", (GlobalRole.ADMIN,)),
]


@dataclass(frozen=True)
class Action:
    """A row of the grid. ``kind`` says which rule function decides it (see the test):
    ``transition`` (``name`` from ``states``), ``signoff``, ``grant`` (``name`` is the role)
    or ``risk_tier``."""

    kind: str
    name: str
    label: str
    holders: tuple[str, ...]
    states: tuple[str, ...] = ()
    note: str = ""


def transition_sources() -> dict[str, list[str]]:
    """{transition name: its source states, in the order of the states}, from the graph itself."""
    field = ModelVersion._meta.get_field("state")
    order = list(VersionState.values)
    sources: dict[str, list[str]] = {}
    for transition in field.get_all_transitions(ModelVersion):
        sources.setdefault(transition.name, []).append(str(transition.source))
    return {name: sorted(states, key=order.index) for name, states in sources.items()}


def actions() -> list[Action]:
    """Every row of the grid, from the rules' own tables."""
    rows: list[Action] = []
    sources = transition_sources()
    for name in USER_TRANSITIONS:
        rule = RULES[name]
        by_holders: dict[tuple[str, ...], list[str]] = {}
        for state in sources.get(name, []):
            by_holders.setdefault(rule.holders_for(state), []).append(state)
        for holders, states in by_holders.items():
            labels = ", ".join(VersionState(state).label.lower() for state in states)
            rows.append(Action("transition", name, f"{rule.description} (from {labels})", holders, tuple(states)))
    rows.append(
        Action(
            "signoff", "signoff", "Sign off a version in review (approve, reject, request changes)", SIGNERS,
            note="Never a version they submitted or a version of a model they own.",
        )
    )
    for role, label in ObjectRole.choices:
        rows.append(Action("grant", role, f"Give or remove the {label.lower()} grant", GRANT_GIVERS[role]))
    rows.append(Action("risk_tier", "risk_tier", "Confirm or change a model's risk tier", RISK_TIER_CONFIRMERS))
    return rows


def allowed(action: Action, persona: Persona) -> bool:
    """The grid's cell: whether a person like ``persona`` is one of the action's holders."""
    roles, perms = set(persona.roles), persona.perms
    return any(key != AGENT and HOLDERS[key].matches(roles=roles, perms=perms) for key in action.holders)


def grid() -> dict:
    """The grid as the admin page shows it: columns, rows with their cells, and the holders."""
    return {
        "personas": PERSONAS,
        "rows": [
            {"action": action, "cells": [allowed(action, persona) for persona in PERSONAS],
             "holders": [HOLDERS[key].label for key in action.holders if key != AGENT]}
            for action in actions()
        ],
    }
