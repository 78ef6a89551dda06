"""The lifecycle's doors: people's steps, agents' steps and sign-offs each have their own entry
point, and none of them lets a caller skip the rule of another."""

import pytest

from governance.audit.models import AuditEvent
from governance.errors import ActionForbidden
from workflows.lifecycle import services
from workflows.lifecycle.models import Annotation, TransitionRecord

pytestmark = pytest.mark.django_db


def test_a_person_cannot_take_an_agents_step(version_in, alice, admin_user):
    version = version_in("testing")
    for person in (alice, admin_user):
        with pytest.raises(ActionForbidden):
            services.agent_transition(version=version, name="pass_tests", agent=person, agent_name="", annotation="ok")
        with pytest.raises(ActionForbidden) as refused:
            services.version_transition(version=version, name="pass_tests", actor=person, annotation="ok")
        assert refused.value.code == "agent_only"
    assert not TransitionRecord.objects.filter(version=version, name="pass_tests").exists()


def test_an_agent_cannot_take_a_persons_step_or_sign(version_in, agent):
    version = version_in("in_review")
    for name in ("withdraw", "approve", "reject"):
        with pytest.raises(ActionForbidden) as refused:
            services.agent_transition(version=version, name=name, agent=agent, agent_name="", annotation="x")
        assert refused.value.code == "not_an_agent_step"
    with pytest.raises(ActionForbidden):
        services.version_transition(version=version, name="withdraw", actor=agent, annotation="x")


def test_nobody_approves_by_name(version_in, carol):
    version = version_in("in_review")
    with pytest.raises(ActionForbidden) as refused:
        services.version_transition(version=version, name="approve", actor=carol, annotation="x")
    assert refused.value.code == "signoff_required"


def test_agent_notes_come_from_agents_only(version, alice, eve, agent):
    with pytest.raises(ActionForbidden):
        services.agent_annotation_add(version=version, agent=alice, agent_name="test-runner", text="forged")
    with pytest.raises(ActionForbidden):
        services.annotation_add(version=version, author=eve, text="I cannot see this model")
    note = services.agent_annotation_add(version=version, agent=agent, agent_name="test-runner", text="Queued.")
    assert (note.actor_kind, note.agent_name) == ("agent", "test-runner")
    assert Annotation.objects.filter(version=version).count() == 1


def test_each_decision_writes_its_entry_in_its_own_transaction(version, alice):
    services.version_transition(version=version, name="submit", actor=alice)
    record = TransitionRecord.objects.get(version=version, name="submit")
    event = AuditEvent.objects.get(action="version.transition", object_id=str(record.pk))
    assert (event.actor_username, event.details["name"], event.version_number) == ("alice", "submit", version.number)
    note = services.annotation_add(version=version, author=alice, text="Calibration checked.")
    assert AuditEvent.objects.get(action="version.annotated", object_id=str(note.pk)).summary == "Calibration checked."


def test_a_refused_step_leaves_no_entry(version_in, bob):
    version = version_in("approved")
    before = AuditEvent.objects.count()
    with pytest.raises(ActionForbidden):
        services.version_transition(version=version, name="promote_to_challenger", actor=bob, annotation="x")
    assert AuditEvent.objects.count() == before
