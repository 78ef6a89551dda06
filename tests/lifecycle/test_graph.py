"""Every edge of the lifecycle graph, through the one service, leaves exactly one record."""

import pytest

from governance.errors import ActionConflict, ActionForbidden
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import services
from workflows.lifecycle.models import ActorKind, Annotation, TransitionRecord

from .conftest import PATHS, actor_for, walk

pytestmark = pytest.mark.django_db

STATE_FIELD = ModelVersion._meta.get_field("state")
EDGES = sorted(
    {(str(t.source), t.name, str(t.target)) for t in STATE_FIELD.get_all_transitions(ModelVersion)}
)


def test_the_graph_has_the_edges_of_the_contract():
    # The contract's lifecycle table, edge by edge: a change to the graph must change this test.
    withdrawable = ["draft", "testing", "tests_failed", "warming_up", "warmup_failed", "in_review", "changes_requested"]
    expected = {
        ("draft", "submit", "testing"),
        ("testing", "pass_tests", "warming_up"),
        ("testing", "fail_tests", "tests_failed"),
        ("warming_up", "pass_warmup", "in_review"),
        ("warming_up", "fail_warmup", "warmup_failed"),
        ("in_review", "approve", "approved"),
        ("in_review", "reject", "rejected"),
        ("in_review", "request_changes", "changes_requested"),
        ("tests_failed", "rerun_tests", "testing"),
        ("warmup_failed", "rerun_tests", "testing"),
        *((state, "withdraw", "withdrawn") for state in withdrawable),
        ("approved", "promote_to_challenger", "challenger"),
        ("challenger", "promote_to_champion", "champion"),
        ("approved", "retire", "retired"),
        ("challenger", "retire", "retired"),
        ("champion", "retire", "retired"),
        ("retired", "rollback", "champion"),
    }
    assert set(EDGES) == expected


@pytest.mark.parametrize("source,name,target", EDGES)
def test_each_edge_leaves_exactly_one_record(source, name, target, alice, users, datasets):
    # A model of its own per edge, so no other version's champion is involved.
    model = factories.make_model(alice, name=f"Edge {source} {name}", reviewer=[users["carol"]], operator=[users["oscar"]])
    version = factories.make_version(model, alice, datasets=datasets)
    version = walk(version, PATHS[source], users=users)
    assert version.state == source
    before = TransitionRecord.objects.count()
    actor = actor_for(name, **users)

    version = factories.step(version, name, actor, annotation=f"why: {name}")

    assert version.state == target
    version.refresh_from_db()
    assert version.state == target
    assert TransitionRecord.objects.count() == before + 1
    record = TransitionRecord.objects.latest("id")
    assert (record.version, record.name, record.from_state, record.to_state) == (version, name, source, target)
    assert record.actor == actor
    # An approval's record counts the signatures that made it; every other step keeps its why.
    assert record.annotation == ("1 of 1 required approvals: carol." if name == "approve" else f"why: {name}")
    assert (record.policy["risk_tier"], record.policy["required_approvals"]) == ("medium", 1)
    if actor.is_service_account:
        assert (record.actor_kind, record.agent_name) == (ActorKind.AGENT, actor.username)
    else:
        assert (record.actor_kind, record.agent_name) == (ActorKind.HUMAN, "")


def test_promoting_a_challenger_retires_the_champion_in_the_same_step(version_in, oscar):
    old = version_in("champion")
    new = version_in("challenger")
    factories.shadow_for(new, hours=200, requests=1000)  # the high tier's minimums, met
    before = TransitionRecord.objects.count()

    services.version_transition(version=new, name="promote_to_champion", actor=oscar, annotation="better AUC")

    assert TransitionRecord.objects.count() == before + 2
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.state, new.state) == (VersionState.RETIRED, VersionState.CHAMPION)
    retirement = TransitionRecord.objects.get(version=old, name="retire")
    assert retirement.details == {"replaced_by": new.number, "cause": "promote_to_champion"}
    assert retirement.actor == oscar
    assert ModelVersion.objects.filter(model=new.model, state=VersionState.CHAMPION).count() == 1


def test_rollback_reinstates_a_former_champion_and_retires_the_current_one(version_in, oscar):
    factories.shadow_minimums()  # the promotion before the rollback is not held back
    first = version_in("champion")
    second = version_in("challenger")
    services.version_transition(version=second, name="promote_to_champion", actor=oscar, annotation="new model")
    before = TransitionRecord.objects.count()

    services.version_transition(version=first, name="rollback", actor=oscar, annotation="drift on v2")

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (VersionState.CHAMPION, VersionState.RETIRED)
    assert TransitionRecord.objects.count() == before + 2
    assert TransitionRecord.objects.filter(version=second, name="retire").latest("id").details["replaced_by"] == first.number


def test_a_version_that_never_was_champion_cannot_be_rolled_back_to(version_in, oscar):
    retired = version_in("approved")
    services.version_transition(version=retired, name="retire", actor=oscar, annotation="not needed")
    with pytest.raises(ActionConflict):
        services.version_transition(version=retired, name="rollback", actor=oscar, annotation="try")
    assert not TransitionRecord.objects.filter(version=retired, name="rollback").exists()


def test_the_database_refuses_a_second_champion(version_in):
    from django.db import IntegrityError, transaction

    champion = version_in("champion")
    other = version_in("challenger")
    # Bypassing the service and the FSM: only the database stands in the way.
    with pytest.raises(IntegrityError), transaction.atomic():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ModelVersion._meta.db_table} SET state = %s WHERE id = %s", ["champion", other.pk]
            )
    champion.refresh_from_db()
    assert champion.state == VersionState.CHAMPION


def test_nothing_but_a_transition_moves_the_state(version):
    with pytest.raises(AttributeError):
        version.state = VersionState.APPROVED
    with pytest.raises(TypeError):
        ModelVersion.objects.filter(pk=version.pk).update(state=VersionState.APPROVED)
    with pytest.raises(TypeError):
        ModelVersion.objects.bulk_update([version], ["state"])
    version.refresh_from_db()
    assert version.state == VersionState.DRAFT
    assert not TransitionRecord.objects.filter(version=version).exists()


def test_records_and_annotations_are_append_only(version_in, alice):
    version = version_in("testing")
    record = TransitionRecord.objects.get(version=version)
    note = services.annotation_add(version=version, author=alice, text="first thought")
    for row in (record, note):
        with pytest.raises(TypeError):
            row.save()
        with pytest.raises(TypeError):
            row.delete()
    with pytest.raises(TypeError):
        TransitionRecord.objects.filter(pk=record.pk).update(annotation="rewritten")
    with pytest.raises(TypeError):
        Annotation.objects.filter(pk=note.pk).delete()


def test_a_scheduled_job_without_a_user_is_recorded_by_its_name(version_in):
    version = version_in("testing")
    services.agent_transition(
        version=version, name="fail_tests", agent=None, agent_name="nightly-tests", annotation="timeout"
    )
    record = TransitionRecord.objects.filter(version=version).latest("id")
    assert (record.actor, record.actor_kind, record.agent_name) == (None, ActorKind.AGENT, "nightly-tests")
    with pytest.raises(ValueError):  # an agent without an account names its job
        services.agent_transition(version=version, name="pass_tests", agent=None, agent_name="", annotation="x")
    with pytest.raises(ActionForbidden):  # a person's step needs a person
        services.version_transition(version=version, name="rerun_tests", actor=None, annotation="x")


CALLS: list[dict] = []


def _record_call(**kwargs):
    CALLS.append(kwargs)


def test_after_commit_steps_run_once_per_committed_transition(version, alice, monkeypatch, django_capture_on_commit_callbacks):
    from dataclasses import replace

    from workflows.lifecycle import rules

    CALLS.clear()
    monkeypatch.setitem(rules.RULES, "submit", replace(rules.RULES["submit"], after_commit=(f"{__name__}._record_call",)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.version_transition(version=version, name="submit", actor=alice)
    assert CALLS == []  # nothing runs before the commit
    for callback in callbacks:
        callback()
    record = TransitionRecord.objects.get(version=version)
    assert CALLS == [{"version_id": version.pk, "record_id": record.pk}]


def test_what_follows_a_transition_is_declared_with_its_rule_and_resolves():
    from django.utils.module_loading import import_string

    from workflows.lifecycle.rules import QUEUE_TEST_RUN, QUEUE_WARMUP, RULES
    from workflows.testsuites.runs import test_run_request
    from workflows.testsuites.warmup import warmup_request

    declared = {name: rule.after_commit for name, rule in RULES.items() if rule.after_commit}
    assert declared == {"submit": (QUEUE_TEST_RUN,), "rerun_tests": (QUEUE_TEST_RUN,), "pass_tests": (QUEUE_WARMUP,)}
    assert import_string(QUEUE_TEST_RUN) is test_run_request and import_string(QUEUE_WARMUP) is warmup_request


def test_management_command_runs_the_same_service_with_the_same_rules(version_in, oscar, alice):
    from django.core.management import CommandError, call_command

    approved = version_in("approved")
    call_command("version_transition", approved.model.slug, str(approved.number), "promote_to_challenger",
                 "--as", "oscar", "--annotation", "shadow it")
    assert ModelVersion.objects.get(pk=approved.pk).state == VersionState.CHALLENGER
    record = TransitionRecord.objects.filter(version=approved).latest("id")
    assert (record.name, record.actor) == ("promote_to_challenger", oscar)
    with pytest.raises(CommandError, match="403"):
        call_command("version_transition", approved.model.slug, str(approved.number), "promote_to_champion",
                     "--as", "alice", "--annotation", "me too")
    with pytest.raises(CommandError, match="400 annotation_required"):
        call_command("version_transition", approved.model.slug, str(approved.number), "promote_to_champion", "--as", "oscar")


def test_policy_falls_back_to_the_defaults_without_a_row():
    from workflows.lifecycle import policy
    from workflows.lifecycle.models import ApprovalPolicy

    ApprovalPolicy.objects.filter(risk_tier="critical").delete()
    ApprovalPolicy.objects.filter(risk_tier="low").update(required_approvals=2)
    assert policy.required_approvals("critical") == 3
    assert policy.policy_table() == {"low": 2, "medium": 1, "high": 2, "critical": 3}


@pytest.mark.postgres
@pytest.mark.usefixtures("db_owner")  # the triggers, behind the app role's missing rights
def test_postgresql_refuses_raw_changes_to_the_history(version_in, alice):
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the triggers are PostgreSQL's")
    version = version_in("testing")
    services.annotation_add(version=version, author=alice, text="note")
    for table in ("lifecycle_transitionrecord", "lifecycle_annotation"):
        for sql in (f"UPDATE {table} SET agent_name = 'x'", f"DELETE FROM {table}"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
    assert TransitionRecord.objects.filter(version=version).count() == 1


def test_deactivated_people_are_refused_by_the_services_themselves(version_in, alice, carol):
    from governance.errors import ActionForbidden
    from tests import factories as f

    in_review = version_in("in_review")
    draft = version_in("draft")
    for user in (alice, carol):
        user.is_active = False
        user.save(update_fields=["is_active"])
    with pytest.raises(ActionForbidden):
        services.version_transition(version=draft, name="submit", actor=alice)
    with pytest.raises(ActionForbidden):
        services.signoff_record(version=in_review, signer=carol, decision="approve", annotation="ok", password=f.PASSWORD)
    with pytest.raises(ActionForbidden):
        services.annotation_add(version=draft, author=alice, text="still here?")
    assert ModelVersion.objects.get(pk=draft.pk).state == VersionState.DRAFT
    assert not in_review.signoffs.exists()
