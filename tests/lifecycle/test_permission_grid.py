"""The admin's permission grid says what the code does: every cell is checked against the real
rule functions with a user who holds exactly that column's role and grant."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from governance.access import permissions
from governance.access.models import User
from governance.registry.models import ModelVersion
from tests import factories
from workflows.lifecycle import grid, services
from workflows.lifecycle.rules import RULES, USER_TRANSITIONS

pytestmark = pytest.mark.django_db


def _persona_user(persona: grid.Persona, model) -> User:
    user = factories.make_user(f"grid-{persona.key}")
    for role in persona.roles:
        user.groups.add(Group.objects.get(name=role))
    if persona.grant:
        factories.grant(model=model, user=user, role=persona.grant)
    return User.objects.get(pk=user.pk)


def _real_answer(action: grid.Action, user, model, version) -> bool:
    """What the rule function itself decides for this row."""
    if action.kind == "transition":
        answers = set()
        for state in action.states:
            # A version in that state (rollback takes a former champion), read by both functions.
            in_state = ModelVersion(pk=version.pk, model=model, number=version.number, state=state, was_champion=True)
            by_rule = RULES[action.name].who(user, in_state)
            offered = action.name in services.transitions_available(version=in_state, user=user)
            assert by_rule == offered, (action.label, state, user.username)
            answers.add(by_rule)
        assert len(answers) == 1, (action.label, user.username)  # one row: the same answer from each state
        return answers.pop()
    if action.kind == "signoff":
        return services.signoff_refusal(version=version, user=user) is None
    if action.kind == "grant":
        return permissions.can_give_grant(user, model, action.name)
    if action.kind == "risk_tier":
        return permissions.can_confirm_risk_tier(user, model)
    raise AssertionError(f"No rule function for the grid's row kind '{action.kind}'.")


def test_every_cell_of_the_grid_agrees_with_the_rule_functions(alice, datasets):
    model = factories.make_model(alice)
    version = factories.make_version(model, alice, datasets=datasets)
    users = {persona.key: _persona_user(persona, model) for persona in grid.PERSONAS}
    disagreements = []
    for action in grid.actions():
        for persona in grid.PERSONAS:
            shown = grid.allowed(action, persona)
            real = _real_answer(action, users[persona.key], model, version)
            if shown != real:
                disagreements.append((action.label, persona.key, shown, real))
    assert disagreements == []


def test_the_grid_covers_every_transition_from_every_state_and_every_grant():
    covered = {(a.name, state) for a in grid.actions() if a.kind == "transition" for state in a.states}
    sources = grid.transition_sources()
    expected = {(name, state) for name in USER_TRANSITIONS for state in sources[name]}
    assert covered == expected
    assert {a.name for a in grid.actions() if a.kind == "grant"} == {"owner", "contributor", "reviewer", "operator", "viewer"}


def test_the_grid_states_the_separation_of_duties():
    cells = {(a.label, p.key): grid.allowed(a, p) for a in grid.actions() for p in grid.PERSONAS}
    assert cells[("Retire the version (from approved)", "owner")]
    assert not cells[("Retire the version (from challenger, champion)", "owner")]
    assert cells[("Retire the version (from challenger, champion)", "operator")]
    assert not cells[("Give or remove the reviewer grant", "owner")]
    assert cells[("Give or remove the reviewer grant", "validator")]
    assert not cells[("Give or remove the operator grant", "validator")]
    assert cells[("Give or remove the operator grant", "admin")]
    assert not cells[("Confirm or change a model's risk tier", "owner")]
    assert cells[("Confirm or change a model's risk tier", "reviewer")]


def test_admins_see_the_grid_linked_from_the_admin_index(admin_user, client):
    client.force_login(admin_user)
    index = client.get(reverse("admin:index"))
    url = reverse("admin_permission_grid")
    assert url in index.content.decode()
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Give or remove the reviewer grant" in html and "Owner (data scientist, owner grant)" in html
    assert "{" not in page.context["rows"][0]["action"].label


def test_staff_without_the_admin_role_are_refused_the_grid(client):
    staff = factories.make_user("stan", "validator", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin_permission_grid")).status_code == 403
    assert reverse("admin_permission_grid") not in client.get(reverse("admin:index")).content.decode()


def test_people_who_are_not_staff_are_sent_to_sign_in(alice, client):
    client.force_login(alice)
    assert client.get(reverse("admin_permission_grid")).status_code == 302
