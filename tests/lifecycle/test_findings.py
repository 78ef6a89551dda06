"""Findings and conditions: raised with a signature, closed by an independent validator, holding
back promotion to champion while open, flagged when overdue; and the request-changes loop with
its linked resubmission. Services and API; the pages are in test_findings_pages.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from governance.access.services import service_account_get
from governance.audit.models import AuditEvent
from governance.errors import ActionConflict, ActionError, ActionForbidden, AnnotationRequired
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import findings, services
from workflows.lifecycle.models import Finding, FindingEvent, SignOff, TransitionRecord

from .conftest import PATHS, grant, walk

pytestmark = pytest.mark.django_db

PASSWORD = factories.PASSWORD


def vurl(version, action: str) -> str:
    return f"/api/v1/models/{version.model.slug}/versions/{version.number}/{action}"


def due_in(days: int) -> str:
    return (findings.today() + timedelta(days=days)).isoformat()


def condition(description="Monitor the drift of income weekly.", severity="medium", due=None) -> dict:
    return {"description": description, "severity": severity, "due": due or due_in(30)}


def sign(version, signer, decision="approve", **extra):
    return services.signoff_record(
        version=version, signer=signer, decision=decision, annotation=f"{decision}: read the evidence",
        password=PASSWORD, **extra,
    )


def fresh(version) -> ModelVersion:
    return ModelVersion.objects.get(pk=version.pk)


def upload_resubmission(api, version, answered_number, datasets):
    files = factories.classifier_files()
    return api.post(
        f"/api/v1/models/{version.model.slug}/versions/",
        {
            "artifact": factories.upload("model.onnx", files["onnx"]),
            "training_dataset": datasets[0].pk,
            "validation_dataset": datasets[1].pk,
            "annotation": "Recall fixed",
            "resubmission_of": answered_number,
        },
        format="multipart",
    )


# --- Requesting changes ------------------------------------------------------------------------


def test_request_changes_loop_ends_in_an_approved_resubmission(in_review, alice, carol, dave, users, datasets, api_for):
    response = api_for(carol).post(
        vurl(in_review, "signoffs/"),
        {
            "decision": "request_changes", "password": PASSWORD, "annotation": "Recall on the minority class is too low.",
            "findings": [
                {"description": "Recall below 0.8 for applicants under 25.", "severity": "high"},
                {"description": "Document the feature selection.", "severity": "low"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "changes_requested"
    assert response.json()["meaning"] == "Reviewed; changes are required before approval"
    first = fresh(in_review)
    assert first.state == VersionState.CHANGES_REQUESTED
    record = TransitionRecord.objects.get(version=first, name="request_changes")
    assert (record.actor, record.from_state, record.annotation) == (carol, "in_review", "Recall on the minority class is too low.")
    signoff = SignOff.objects.get(version=first)
    raised = list(Finding.objects.filter(version=first).order_by("id"))
    assert [(f.kind, f.severity, f.status, f.owner, f.raised_by, f.signoff) for f in raised] == [
        ("finding", "high", "open", alice, carol, signoff),
        ("finding", "low", "open", alice, carol, signoff),
    ]
    assert [e.action for f in raised for e in f.events.all()] == ["raised", "raised"]
    assert AuditEvent.objects.filter(action="finding.raised", version_number=first.number).count() == 2
    # The findings are listed for whoever can see the model.
    listed = api_for(alice).get(vurl(first, "findings/")).json()
    assert [(f["kind"], f["description"], f["raised_by"], f["status"]) for f in listed] == [
        ("finding", "Recall below 0.8 for applicants under 25.", "carol", "open"),
        ("finding", "Document the feature selection.", "carol", "open"),
    ]

    # The submitter answers with a new version linked to the one sent back.
    response = upload_resubmission(api_for(alice), first, first.number, datasets)
    assert response.status_code == 201, response.content
    assert response.json()["resubmission_of"] == first.number
    second = ModelVersion.objects.get(model=first.model, number=response.json()["number"])
    assert second.resubmission_of == first
    assert list(first.resubmissions.all()) == [second]

    second = walk(second, PATHS["in_review"], users=users)
    sign(second, dave)
    assert fresh(second).state == VersionState.APPROVED
    assert fresh(first).state == VersionState.CHANGES_REQUESTED


def test_a_request_for_changes_needs_a_finding_and_records_nothing_without_one(in_review, carol, api_for):
    response = api_for(carol).post(
        vurl(in_review, "signoffs/"),
        {"decision": "request_changes", "password": PASSWORD, "annotation": "Not yet."},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "findings_required" and "findings" in response.json()
    assert fresh(in_review).state == VersionState.IN_REVIEW
    assert not SignOff.objects.exists() and not Finding.objects.exists()


def test_the_submitter_cannot_request_changes_on_her_own_version(in_review, alice):
    with pytest.raises(ActionForbidden):
        sign(in_review, alice, "request_changes", findings=[{"description": "x", "severity": "low"}])
    assert not Finding.objects.exists()


def test_a_rejection_may_carry_findings(in_review, carol):
    sign(in_review, carol, "reject", findings=[{"description": "Trained on leaked labels.", "severity": "high"}])
    assert fresh(in_review).state == VersionState.REJECTED
    assert Finding.objects.get().kind == "finding"


def test_resubmission_of_a_version_not_waiting_for_changes_is_a_400_naming_the_field(
    version_in, alice, datasets, api_for
):
    approved = version_in("approved")
    for number in (approved.number, 999, "two"):
        response = upload_resubmission(api_for(alice), approved, number, datasets)
        assert response.status_code == 400, response.content
        assert "resubmission_of" in response.json()
    assert ModelVersion.objects.filter(resubmission_of__isnull=False).count() == 0
    assert ModelVersion.objects.count() == 1


def test_resubmission_must_answer_a_version_of_the_same_model(version_in, alice, datasets, api_for):
    sent_back = version_in("changes_requested")
    other = factories.make_model(alice, name="Other model")
    draft = factories.make_version(other, alice, datasets=datasets)
    assert draft.number == sent_back.number
    # The number names a version of the model uploaded to: the other model's draft, not waiting for changes.
    response = upload_resubmission(api_for(alice), draft, sent_back.number, datasets)
    assert response.status_code == 400 and "resubmission_of" in response.json()
    assert response.json()["code"] == "not_changes_requested"
    assert not ModelVersion.objects.filter(resubmission_of=sent_back).exists()


# --- Conditions --------------------------------------------------------------------------------


def test_approval_with_conditions_blocks_promotion_to_champion_until_a_validator_closes_them(
    in_review, alice, carol, dave, oscar, api_for
):
    response = api_for(carol).post(
        vurl(in_review, "signoffs/"),
        {
            "decision": "approve", "password": PASSWORD, "annotation": "Good enough with monitoring.",
            "conditions": [condition("Monitor the drift of income weekly."), condition("Recalibrate by Q3.", "low")],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    version = fresh(in_review)
    assert version.state == VersionState.APPROVED
    assert [(c.kind, c.owner, c.due.isoformat()) for c in findings.open_conditions(version)] == [
        ("condition", alice, due_in(30)), ("condition", alice, due_in(30)),
    ]
    services.version_transition(version=version, name="promote_to_challenger", actor=oscar, annotation="shadow it")

    response = api_for(oscar).post(
        vurl(version, "transitions/"), {"name": "promote_to_champion", "annotation": "go"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "open_conditions"
    assert "Monitor the drift of income weekly." in body["detail"] and "Recalibrate by Q3." in body["detail"]
    assert fresh(version).state == VersionState.CHALLENGER
    assert not TransitionRecord.objects.filter(version=version, name="promote_to_champion").exists()

    first, second = findings.open_conditions(version)
    response = api_for(dave).post(vurl(version, f"findings/{first.pk}/close/"), {"annotation": "Dashboard live."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "closed" and response.json()["closed_by"] == "dave"
    with pytest.raises(ActionConflict) as refused:
        services.version_transition(version=version, name="promote_to_champion", actor=oscar, annotation="go")
    assert refused.value.code == "open_conditions" and "Recalibrate by Q3." in refused.value.message
    assert "Monitor the drift" not in refused.value.message

    findings.finding_close(finding=second, actor=carol, annotation="Recalibrated.")
    services.version_transition(version=version, name="promote_to_champion", actor=oscar, annotation="go")
    assert fresh(version).state == VersionState.CHAMPION


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"decision": "reject", "conditions": [{"description": "x", "severity": "low", "due": "2999-01-01"}]}, "conditions"),
        ({"decision": "request_changes", "conditions": [{"description": "x", "severity": "low", "due": "2999-01-01"}],
          "findings": [{"description": "y", "severity": "low"}]}, "conditions"),
        ({"decision": "approve", "findings": [{"description": "y", "severity": "low"}]}, "findings"),
        ({"decision": "approve", "conditions": [{"description": "x", "severity": "low", "due": "2001-01-01"}]}, "conditions"),
        ({"decision": "approve", "conditions": [{"description": "x", "severity": "low"}]}, "conditions"),
        ({"decision": "approve", "conditions": [{"description": "x", "severity": "low", "due": "1 March"}]}, "conditions"),
        ({"decision": "approve", "conditions": [{"description": "x", "severity": "dire", "due": "2999-01-01"}]}, "conditions"),
        ({"decision": "approve", "conditions": [{"description": "", "severity": "low", "due": "2999-01-01"}]}, "conditions"),
        ({"decision": "approve", "conditions": [{"description": "x", "severity": "low", "due": "2999-01-01",
                                                 "owner": "nobody"}]}, "conditions"),
    ],
    ids=["conditions-with-reject", "conditions-with-request-changes", "findings-with-approve", "due-in-the-past",
         "no-due", "due-not-a-date", "bad-severity", "no-description", "unknown-owner"],
)
def test_bad_conditions_or_findings_are_a_400_naming_the_field_and_record_nothing(in_review, carol, api_for, payload, field):
    response = api_for(carol).post(
        vurl(in_review, "signoffs/"), {"password": PASSWORD, "annotation": "Reviewed.", **payload}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] and field in response.json()
    assert fresh(in_review).state == VersionState.IN_REVIEW
    assert not SignOff.objects.exists() and not Finding.objects.exists()


def test_a_condition_due_yesterday_is_refused_by_the_service(in_review, carol):
    yesterday = findings.today() - timedelta(days=1)
    with pytest.raises(ActionError) as refused:
        sign(in_review, carol, conditions=[condition(due=yesterday.isoformat())])
    assert refused.value.field == "conditions" and "in the past" in refused.value.message
    # Due today is still in time.
    sign(in_review, carol, conditions=[condition(due=findings.today().isoformat())])
    assert Finding.objects.get().due == findings.today()


def test_a_condition_may_name_its_owner(in_review, bob, carol):
    sign(in_review, carol, conditions=[{**condition(), "owner": "bob"}])
    assert Finding.objects.get().owner == bob


def test_the_evidence_confirmation_becomes_part_of_the_meaning(in_review, carol, api_for):
    response = api_for(carol).post(
        vurl(in_review, "signoffs/"),
        {"decision": "approve", "password": PASSWORD, "annotation": "Read.", "evidence_reviewed": True},
        format="json",
    )
    assert response.status_code == 201
    assert SignOff.objects.get().meaning == "Reviewed and approved for production use. I have reviewed the evidence summary."


# --- Closing -----------------------------------------------------------------------------------


@pytest.fixture
def conditioned(in_review, carol):
    """An approved version with one open condition raised by carol."""
    sign(in_review, carol, conditions=[condition()])
    return fresh(in_review)


def the_condition(version) -> Finding:
    return Finding.objects.get(version=version)


def test_close_is_refused_to_authors_owners_and_anyone_but_an_independent_reviewer(
    conditioned, alice, bob, oscar, frank, audrey, admin_user, api_for
):
    condition_ = the_condition(conditioned)
    grant(conditioned.model, "reviewer", frank)
    grant(conditioned.model, "owner", bob)  # a co-owner, who is also no validator
    validator_owner = factories.make_user("vera", "validator")
    grant(conditioned.model, "owner", validator_owner)
    grant(conditioned.model, "reviewer", validator_owner)  # an owner with the reviewer grant still may not close
    outsider_validator = factories.make_user("olga", "validator")  # no reviewer grant
    grant(conditioned.model, "viewer", outsider_validator)
    refused = [alice, bob, oscar, audrey, admin_user, validator_owner, outsider_validator, service_account_get("ci-bot")]
    for user in refused:
        with pytest.raises(ActionForbidden):
            findings.finding_close(finding=condition_, actor=user, annotation="done")
    for user in (alice, oscar, audrey, validator_owner):
        response = api_for(user).post(vurl(conditioned, f"findings/{condition_.pk}/close/"), {"annotation": "done"}, format="json")
        assert response.status_code == 403, (user, response.content)
    assert the_condition(conditioned).status == "open"
    assert not FindingEvent.objects.filter(action="closed").exists()
    # frank, a validator with the grant who had no part in the version, closes it.
    findings.finding_close(finding=condition_, actor=frank, annotation="Drift dashboard reviewed.")
    assert the_condition(conditioned).closed_by == frank


def test_the_owner_of_a_finding_does_not_close_it(in_review, carol, dave):
    sign(in_review, carol, conditions=[{**condition(), "owner": "dave"}])
    with pytest.raises(ActionForbidden):
        findings.finding_close(finding=the_condition(in_review), actor=dave, annotation="mine, done")


def test_a_deactivated_validator_cannot_close(conditioned, dave):
    dave.is_active = False
    dave.save(update_fields=["is_active"])
    with pytest.raises(ActionForbidden):
        findings.finding_close(finding=the_condition(conditioned), actor=dave, annotation="done")


def test_closing_needs_an_annotation_and_happens_once(conditioned, carol, dave, api_for):
    condition_ = the_condition(conditioned)
    response = api_for(dave).post(vurl(conditioned, f"findings/{condition_.pk}/close/"), {"annotation": " "}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "annotation_required"
    with pytest.raises(AnnotationRequired):
        findings.finding_close(finding=condition_, actor=dave, annotation="")

    closed = findings.finding_close(finding=condition_, actor=dave, annotation="Dashboard live.")
    assert (closed.status, closed.closed_by, closed.close_annotation) == ("closed", dave, "Dashboard live.")
    assert [e.action for e in closed.events.order_by("at", "id")] == ["raised", "closed"]
    entry = AuditEvent.objects.get(action="finding.closed")
    assert entry.actor == dave and entry.version_number == conditioned.number
    data = json.loads(entry.data)
    assert data["annotation"] == "Dashboard live." and data["status"] == "closed"

    response = api_for(carol).post(vurl(conditioned, f"findings/{condition_.pk}/close/"), {"annotation": "again"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "already_closed"
    assert FindingEvent.objects.filter(action="closed").count() == 1


def test_findings_api_is_for_those_who_can_see_the_model(conditioned, alice, eve, audrey, dave, api_for):
    condition_ = the_condition(conditioned)
    body = api_for(audrey).get(vurl(conditioned, "findings/")).json()
    assert body == [
        {
            "id": condition_.pk, "kind": "condition", "description": "Monitor the drift of income weekly.",
            "severity": "medium", "due": due_in(30), "status": "open", "owner": "alice", "raised_by": "carol",
            "raised_at": body[0]["raised_at"], "closed_by": None, "closed_at": None, "close_annotation": "",
            "version": conditioned.number, "overdue": False, "events": body[0]["events"],
        }
    ]
    assert [(e["action"], e["actor"], e["actor_kind"]) for e in body[0]["events"]] == [("raised", "carol", "human")]
    assert api_for(eve).get(vurl(conditioned, "findings/")).status_code == 404
    assert api_for(eve).post(vurl(conditioned, f"findings/{condition_.pk}/close/"), {"annotation": "x"}, format="json").status_code == 404
    # A finding is reached only through its own version.
    other = factories.make_version(conditioned.model, alice)
    assert api_for(dave).post(vurl(other, f"findings/{condition_.pk}/close/"), {"annotation": "x"}, format="json").status_code == 404
    assert api_for(dave).post(vurl(conditioned, "findings/999999/close/"), {"annotation": "x"}, format="json").status_code == 404


def test_the_history_api_keeps_its_kinds_and_the_signoff_lists_what_it_raised(conditioned, alice, api_for):
    history = api_for(alice).get(vurl(conditioned, "history/")).json()
    assert {entry["kind"] for entry in history} <= {"transition", "annotation", "signoff", "test_run", "warmup"}
    signed = next(entry for entry in history if entry["kind"] == "signoff")
    assert signed["details"]["findings"] == [
        {"kind": "condition", "description": "Monitor the drift of income weekly.", "severity": "medium", "due": due_in(30)}
    ]


# --- Overdue -----------------------------------------------------------------------------------


def make_overdue(condition_: Finding, days: int = 2) -> None:
    Finding.objects.filter(pk=condition_.pk).update(due=findings.today() - timedelta(days=days))


def test_an_open_condition_past_its_due_date_is_overdue_until_closed(conditioned, dave, api_for, alice):
    condition_ = the_condition(conditioned)
    assert findings.overdue_version_numbers(conditioned.model) == []
    make_overdue(condition_)
    assert findings.overdue_version_numbers(conditioned.model) == [conditioned.number]
    assert api_for(alice).get(vurl(conditioned, "findings/")).json()[0]["overdue"] is True
    assert [c.pk for c in findings.overdue_for_reviewer(user=dave)] == [condition_.pk]
    assert list(findings.overdue_for_reviewer(user=alice)) == []

    findings.finding_close(finding=condition_, actor=dave, annotation="Closed late.")
    assert findings.overdue_version_numbers(conditioned.model) == []
    assert list(findings.overdue_for_reviewer(user=dave)) == []


def test_the_monitor_records_each_overdue_condition_once(conditioned, in_review, carol, dave):
    condition_ = the_condition(conditioned)
    assert findings.conditions_flag_overdue() == []
    make_overdue(condition_)

    flagged = findings.conditions_flag_overdue()
    assert [f.pk for f in flagged] == [condition_.pk]
    event = FindingEvent.objects.get(finding=condition_, action="overdue")
    assert (event.actor.username, event.actor_kind, event.agent_name) == ("findings-monitor", "agent", "findings-monitor")
    entry = AuditEvent.objects.get(action="finding.overdue")
    assert entry.agent_name == "findings-monitor" and entry.version_number == conditioned.number

    assert findings.conditions_flag_overdue() == []  # once per condition
    assert FindingEvent.objects.filter(action="overdue").count() == 1


def test_the_monitor_leaves_closed_and_moot_conditions_alone(version_in, carol, dave, alice):
    closed_version = version_in("in_review")
    sign(closed_version, carol, conditions=[condition()])
    findings.finding_close(finding=the_condition(closed_version), actor=dave, annotation="done")
    make_overdue(the_condition(closed_version))
    # A retired version never serves: its open condition is moot.
    retired = version_in("in_review")
    sign(retired, carol, conditions=[condition()])
    services.version_transition(version=fresh(retired), name="retire", actor=alice, annotation="not needed")
    make_overdue(the_condition(retired))

    assert findings.conditions_flag_overdue() == []
    assert findings.overdue_version_numbers(closed_version.model) == []


def test_the_monitor_task_is_scheduled(settings):
    from workflows.lifecycle.tasks import flag_overdue_conditions

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert flag_overdue_conditions.name in scheduled
    assert flag_overdue_conditions() == "Checked open conditions: 0 newly past their due date."


def test_request_changes_is_never_a_transition_by_name(in_review, carol, api_for):
    response = api_for(carol).post(
        vurl(in_review, "transitions/"), {"name": "request_changes", "annotation": "please"}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "signoff_required"
    assert fresh(in_review).state == VersionState.IN_REVIEW
