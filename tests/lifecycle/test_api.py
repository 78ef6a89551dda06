"""The lifecycle API: every row of the lifecycle table, and every refusal of the contract."""

import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from auditlog.models import LogEntry
from django.contrib.auth.models import Group

from governance.access.services import service_account_get
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import services
from workflows.lifecycle.models import DEFAULT_MEANING, Annotation, ApprovalPolicy, SignOff, TransitionRecord

from .conftest import grant

pytestmark = pytest.mark.django_db

PASSWORD = factories.PASSWORD


def url(version, action=""):
    base = f"/api/v1/models/{version.model.slug}/versions/{version.number}/"
    return base + (f"{action}/" if action else "")


def transition(client, version, name, annotation=None):
    body = {"name": name}
    if annotation is not None:
        body["annotation"] = annotation
    return client.post(url(version, "transitions"), body, format="json")


def sign(client, version, decision="approve", annotation="Checked the tests and the warm-up.", password=PASSWORD, **extra):
    body = {"decision": decision, "annotation": annotation, "password": password, **extra}
    return client.post(url(version, "signoffs"), body, format="json")


def fresh(version):
    return ModelVersion.objects.get(pk=version.pk)


# --- Transitions by name -----------------------------------------------------------------------


def test_owner_submits_and_gets_the_version_back(version, alice, api_for):
    response = transition(api_for(alice), version, "submit")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "testing"
    assert body["number"] == version.number
    assert set(body) >= {"available_transitions", "signoffs", "required_signoffs"}
    record = TransitionRecord.objects.get(version=version)
    assert (record.name, record.actor, record.actor_kind) == ("submit", alice, "human")


def test_contributor_submits(version, bob, api_for):
    assert transition(api_for(bob), version, "submit").json()["state"] == "testing"


def test_outsider_gets_404_and_nothing_moves(version, eve, api_for):
    response = transition(api_for(eve), version, "submit")
    assert response.status_code == 404
    assert fresh(version).state == VersionState.DRAFT


@pytest.mark.parametrize("who", ["carol", "oscar", "audrey"])
def test_who_may_see_but_not_submit_gets_403(version, who, request, api_for):
    response = transition(api_for(request.getfixturevalue(who)), version, "submit")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not TransitionRecord.objects.filter(version=version).exists()


def test_unknown_transition_is_400(version, alice, api_for):
    response = transition(api_for(alice), version, "publish")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_transition"


@pytest.mark.parametrize("name", ["approve", "reject"])
def test_approve_and_reject_are_not_called_by_name(in_review, carol, name, api_for):
    response = transition(api_for(carol), in_review, name, "looks fine")
    assert response.status_code == 403
    assert response.json()["code"] == "signoff_required"
    assert fresh(in_review).state == VersionState.IN_REVIEW


def test_agent_transitions_are_not_called_through_the_api(version_in, agent, credit_model, api_for):
    grant(credit_model, "viewer", agent)
    testing = version_in("testing")
    response = transition(api_for(agent), testing, "pass_tests", "all green, trust me")
    assert response.status_code == 403
    assert response.json()["code"] == "agent_only"
    assert fresh(testing).state == VersionState.TESTING


@pytest.mark.parametrize(
    "state,name,who",
    [
        ("draft", "promote_to_challenger", "oscar"),
        ("testing", "submit", "alice"),
        ("in_review", "rerun_tests", "carol"),
        ("approved", "withdraw", "alice"),
        ("challenger", "rollback", "oscar"),
        ("rejected", "retire", "alice"),
    ],
)
def test_transition_from_a_wrong_state_is_409(version_in, state, name, who, request, api_for):
    version = version_in(state)
    before = TransitionRecord.objects.count()
    response = transition(api_for(request.getfixturevalue(who)), version, name, "because")
    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"
    assert TransitionRecord.objects.count() == before
    assert fresh(version).state == state


@pytest.mark.parametrize(
    "state,name,who",
    [
        ("draft", "withdraw", "alice"),
        ("tests_failed", "rerun_tests", "carol"),
        ("approved", "promote_to_challenger", "oscar"),
        ("challenger", "promote_to_champion", "oscar"),
        ("champion", "retire", "oscar"),
        ("approved", "retire", "alice"),
    ],
)
def test_transition_without_a_required_annotation_is_400(version_in, state, name, who, request, api_for):
    version = version_in(state)
    before = TransitionRecord.objects.count()
    for annotation in (None, "", "   "):
        response = transition(api_for(request.getfixturevalue(who)), version, name, annotation)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "annotation_required"
        assert "annotation" in body
    assert TransitionRecord.objects.count() == before
    assert fresh(version).state == state


def test_each_person_row_of_the_lifecycle_table_by_api(version_in, alice, carol, oscar, api_for):
    """rerun_tests, withdraw, promote_to_challenger, promote_to_champion, retire, rollback."""
    factories.shadow_minimums()  # who may call each transition, not how long a challenger shadows
    failed = version_in("warmup_failed")
    assert transition(api_for(carol), failed, "rerun_tests", "flaky warm-up host").json()["state"] == "testing"
    assert transition(api_for(alice), failed, "withdraw", "superseded").json()["state"] == "withdrawn"

    first = version_in("approved")
    assert transition(api_for(oscar), first, "promote_to_challenger", "shadow it").json()["state"] == "challenger"
    assert transition(api_for(oscar), first, "promote_to_champion", "good shadow results").json()["state"] == "champion"
    second = version_in("challenger")
    assert transition(api_for(oscar), second, "promote_to_champion", "better").json()["state"] == "champion"
    assert fresh(first).state == VersionState.RETIRED
    assert transition(api_for(oscar), first, "rollback", "v2 drifts").json()["state"] == "champion"
    assert fresh(second).state == VersionState.RETIRED
    assert transition(api_for(oscar), first, "retire", "model decommissioned").json()["state"] == "retired"
    approved = version_in("approved")
    assert transition(api_for(alice), approved, "retire", "never to serve").json()["state"] == "retired"


def test_operator_needs_the_global_role_and_the_grant(version_in, credit_model, eve, api_for):
    approved = version_in("approved")
    grant(credit_model, "operator", eve)  # the grant, without the operator role
    response = transition(api_for(eve), approved, "promote_to_challenger", "shadow")
    assert response.status_code == 403


def test_withdrawn_version_refuses_further_transitions(version_in, alice, oscar, api_for):
    version = version_in("withdrawn")
    assert transition(api_for(alice), version, "submit").status_code == 409
    assert transition(api_for(alice), version, "withdraw", "again").status_code == 409
    assert transition(api_for(oscar), version, "retire", "x").status_code == 409


def test_deactivated_user_is_refused(version, alice, api_for):
    client = api_for(alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert transition(client, version, "submit").status_code in (401, 403)
    assert fresh(version).state == VersionState.DRAFT


# --- Version fields --------------------------------------------------------------------------------


def test_available_transitions_are_those_of_the_caller(version_in, alice, bob, carol, oscar, api_for):
    draft = version_in("draft")
    detail = lambda user: api_for(user).get(url(draft)).json()  # noqa: E731
    assert detail(alice)["available_transitions"] == ["submit", "withdraw"]
    assert detail(bob)["available_transitions"] == ["submit"]
    assert detail(carol)["available_transitions"] == []
    approved = version_in("approved")
    body = api_for(oscar).get(url(approved)).json()
    assert body["available_transitions"] == ["promote_to_challenger", "retire"]
    assert api_for(alice).get(url(approved)).json()["available_transitions"] == ["retire"]


def test_required_signoffs_follow_the_risk_tier_policy(alice, carol, datasets, api_for):
    for tier, number in {"low": 1, "medium": 1, "high": 2, "critical": 3}.items():
        model = factories.make_model(alice, name=f"Tier {tier}", risk_tier=tier)
        version = factories.make_version(model, alice, datasets=datasets)
        assert api_for(alice).get(url(version)).json()["required_signoffs"] == number


# --- Sign-offs -------------------------------------------------------------------------------------


def test_reviewer_approval_approves_a_medium_tier_version(in_review, carol, api_for):
    response = sign(api_for(carol), in_review)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "approved"
    assert body["signer"] == "carol"
    assert body["signer_full_name"] == "Carol Tester"
    assert body["meaning"] == DEFAULT_MEANING["approve"]
    assert body["artifact_sha256"] == in_review.artifact_sha256
    assert body["policy"] == {"risk_tier": "medium", "required_approvals": 1}
    signoff = SignOff.objects.get(version=in_review)
    assert signoff.at.utcoffset().total_seconds() == 0
    approve = TransitionRecord.objects.get(version=in_review, name="approve")
    assert approve.actor == carol
    assert approve.policy == {"risk_tier": "medium", "required_approvals": 1}
    assert approve.details == {"signoffs": [signoff.pk]}
    detail = api_for(carol).get(url(in_review)).json()
    assert [s["signer"] for s in detail["signoffs"]] == ["carol"]


def test_signer_name_is_kept_as_it_was_when_signing(in_review, carol, api_for):
    sign(api_for(carol), in_review, meaning="Validated against the credit policy")
    carol.first_name = "Caroline"
    carol.save(update_fields=["first_name"])
    signoff = SignOff.objects.get(version=in_review)
    assert (signoff.signer_full_name, signoff.meaning) == ("Carol Tester", "Validated against the credit policy")


def test_a_reject_rejects_at_once(in_review, carol, api_for):
    response = sign(api_for(carol), in_review, decision="reject", annotation="Calibration is off.")
    assert response.status_code == 201
    assert response.json()["meaning"] == DEFAULT_MEANING["reject"]
    assert fresh(in_review).state == VersionState.REJECTED
    assert TransitionRecord.objects.get(version=in_review, name="reject").annotation == "Calibration is off."


def test_high_tier_needs_two_approvals(alice, carol, dave, oscar, agent, datasets, api_for):
    from .conftest import PATHS, walk

    model = factories.make_model(alice, name="Fraud", risk_tier="high", reviewer=[carol, dave])
    version = walk(factories.make_version(model, alice, datasets=datasets), PATHS["in_review"],
                   users={"alice": alice, "carol": carol, "oscar": oscar, "agent": agent})
    assert sign(api_for(carol), version).json()["state"] == "in_review"
    assert sign(api_for(dave), version).json()["state"] == "approved"
    record = TransitionRecord.objects.get(version=version, name="approve")
    assert record.policy == {"risk_tier": "high", "required_approvals": 2}
    assert record.annotation == "2 of 2 required approvals: carol, dave."


def test_policy_change_in_force_is_used_and_recorded(in_review, carol, dave, api_for):
    ApprovalPolicy.objects.filter(risk_tier="medium").update(required_approvals=2)
    assert sign(api_for(carol), in_review).json()["state"] == "in_review"
    assert sign(api_for(dave), in_review).json()["state"] == "approved"
    assert SignOff.objects.filter(version=in_review).first().policy["required_approvals"] == 2


def test_submitter_cannot_sign_off_own_version(credit_model, bob, datasets, version_in, api_for):
    # bob is a contributor and also a validator with the reviewer grant, yet he submitted it.
    bob.groups.add(Group.objects.get(name="validator"))
    grant(credit_model, "reviewer", bob)
    version = factories.make_version(credit_model, bob, datasets=factories.make_datasets(bob))

    for name, actor in (("submit", bob), ("pass_tests", service_account_get("test-runner")),
                        ("pass_warmup", service_account_get("test-runner"))):
        version = factories.step(version, name, actor, annotation="ok")
    response = sign(api_for(bob), version)
    assert response.status_code == 403
    assert response.json()["code"] == "signoff_not_allowed"
    assert not SignOff.objects.exists()


def test_whoever_ran_submit_cannot_sign_either(credit_model, alice, bob, datasets, api_for, users):
    from .conftest import walk

    bob.groups.add(Group.objects.get(name="validator"))
    grant(credit_model, "reviewer", bob)
    version = factories.make_version(credit_model, alice, datasets=datasets)
    version = services.version_transition(version=version, name="submit", actor=bob)
    version = walk(version, ["pass_tests", "pass_warmup"], users=users)
    assert sign(api_for(bob), version).status_code == 403


def test_owner_cannot_sign_off_even_as_a_reviewer(in_review, alice, credit_model, api_for):
    alice.groups.add(Group.objects.get(name="validator"))
    grant(credit_model, "reviewer", alice)
    response = sign(api_for(alice), in_review)
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_owner_through_a_group_cannot_sign_off(in_review, carol, credit_model, api_for):
    owners = Group.objects.create(name="credit-owners")
    carol.groups.add(owners)
    factories.grant(model=credit_model, group=owners, role="owner")
    response = sign(api_for(carol), in_review)
    assert response.status_code == 403
    assert fresh(in_review).state == VersionState.IN_REVIEW


def test_superuser_cannot_sign_off_what_they_own_or_submitted(admin_user, datasets, api_for, agent):

    admin_user.groups.add(Group.objects.get(name="validator"))
    model = factories.make_model(admin_user, name="Admin's model", reviewer=[admin_user])
    version = factories.make_version(model, admin_user, datasets=datasets)
    version = services.version_transition(version=version, name="submit", actor=admin_user)
    for name in ("pass_tests", "pass_warmup"):
        version = factories.step(version, name, agent, annotation="ok")
    response = sign(api_for(admin_user), version)
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_service_account_can_never_sign(in_review, credit_model, api_for):
    robot = service_account_get("ci-bot")
    robot.groups.add(Group.objects.get(name="validator"))
    grant(credit_model, "reviewer", robot)
    response = sign(api_for(robot), in_review, password="")
    assert response.status_code == 403
    assert "Service accounts" in response.json()["detail"]


@pytest.mark.parametrize("who", ["frank", "oscar", "audrey", "admin_user"])
def test_who_has_no_reviewer_grant_cannot_sign(in_review, who, request, credit_model, api_for):
    # frank is a validator who may only view; oscar, audrey and the admin are no reviewers.
    user = request.getfixturevalue(who)
    if who == "frank":
        grant(credit_model, "viewer", user)
    response = sign(api_for(user), in_review)
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_reviewer_grant_without_validator_role_is_not_enough(in_review, credit_model, eve, api_for):
    grant(credit_model, "reviewer", eve)
    assert sign(api_for(eve), in_review).status_code == 403


def test_outsider_gets_404_on_signoffs(in_review, eve, api_for):
    assert sign(api_for(eve), in_review).status_code == 404


def test_wrong_password_records_nothing_and_is_rate_limited(in_review, carol, api_for):
    client = api_for(carol)
    codes = []
    for _ in range(6):
        response = sign(client, in_review, password="not-my-password")
        codes.append((response.status_code, response.json()["code"]))
    assert codes[:5] == [(403, "wrong_password")] * 5
    assert codes[5] == (429, "too_many_attempts")
    # Once limited, even the right password waits.
    assert sign(client, in_review).status_code == 429
    assert not SignOff.objects.exists()
    assert fresh(in_review).state == VersionState.IN_REVIEW


def test_wrong_signing_password_and_the_lockout_are_in_the_trail_and_nothing_else(in_review, carol, api_for):
    from governance.audit.models import AuditEvent, EventKind

    client = api_for(carol)
    before = AuditEvent.objects.count()
    codes = [sign(client, in_review, password="not-my-password").status_code for _ in range(6)]
    assert codes == [403] * 5 + [429]
    new = list(AuditEvent.objects.order_by("seq")[before:])
    assert [event.action for event in new] == ["signoff.credentials_refused"] * 5 + ["signoff.locked"]
    assert {event.kind for event in new} == {EventKind.ACCESS}
    assert all(event.actor_id == carol.pk and event.remote_addr for event in new)
    assert new[0].details["reason"] == "wrong_password" and new[0].details["username_tried"] == "carol"
    assert "not-my-password" not in str([(event.summary, event.data) for event in new])
    assert not SignOff.objects.exists()  # no signature, no transition
    assert fresh(in_review).state == VersionState.IN_REVIEW


def test_second_signoff_by_the_same_person_is_409(in_review, carol, dave, api_for, credit_model):
    ApprovalPolicy.objects.filter(risk_tier="medium").update(required_approvals=2)
    assert sign(api_for(carol), in_review).status_code == 201
    response = sign(api_for(carol), in_review, decision="reject", annotation="changed my mind")
    assert response.status_code == 409
    assert response.json()["code"] == "already_signed"
    assert SignOff.objects.filter(version=in_review).count() == 1


@pytest.mark.parametrize("state", ["draft", "testing", "approved", "rejected", "withdrawn"])
def test_signoff_outside_review_is_409(version_in, state, dave, api_for):
    version = version_in(state)
    before = SignOff.objects.filter(version=version).count()  # approved and rejected were signed
    response = sign(api_for(dave), version)
    assert response.status_code == 409
    assert response.json()["code"] == "not_in_review"
    assert SignOff.objects.filter(version=version).count() == before


def test_signoff_without_annotation_is_400(in_review, carol, api_for):
    response = sign(api_for(carol), in_review, annotation="  ")
    assert response.status_code == 400
    assert response.json()["code"] == "annotation_required"
    response = sign(api_for(carol), in_review, decision="maybe")
    assert response.status_code == 400
    assert not SignOff.objects.exists()


def _totp_for(user):
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def _code(secret):
    from allauth.mfa import app_settings

    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))


def test_signer_with_mfa_gives_a_code_every_time_and_a_code_works_once(version_in, carol, api_for):
    secret = _totp_for(carol)
    first, second = version_in("in_review"), version_in("in_review")
    client = api_for(carol)
    assert sign(client, first).json()["code"] == "otp_required"
    assert sign(client, first, otp="000000" if _code(secret) != "000000" else "111111").json()["code"] == "wrong_otp"
    code = _code(secret)
    response = sign(client, first, otp=code)
    assert response.status_code == 201, response.json()
    assert response.json()["with_mfa"] is True
    # The same code again, on another version: refused, as allauth refuses reuse.
    response = sign(client, second, otp=code)
    assert (response.status_code, response.json()["code"]) == (403, "wrong_otp")
    assert not SignOff.objects.filter(version=second).exists()


# --- Annotations and history -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "oscar", "audrey", "admin_user"])
def test_anyone_who_sees_the_version_annotates_it(version, who, request, api_for):
    user = request.getfixturevalue(who)
    response = api_for(user).post(url(version, "annotations"), {"text": "Looked at the lineage."}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["author"] == user.username
    assert response.json()["actor_kind"] == "human"


def test_outsider_cannot_annotate(version, eve, api_for):
    response = api_for(eve).post(url(version, "annotations"), {"text": "hi"}, format="json")
    assert response.status_code == 404
    assert not Annotation.objects.exists()


def test_empty_annotation_is_400(version, alice, api_for):
    response = api_for(alice).post(url(version, "annotations"), {"text": " "}, format="json")
    assert response.status_code == 400
    assert "text" in response.json()


def test_an_agent_annotates(version, credit_model, api_for):
    monitor = service_account_get("drift-monitor")
    grant(credit_model, "viewer", monitor)
    response = api_for(monitor).post(url(version, "annotations"), {"text": "PSI 0.31 on income"}, format="json")
    assert response.status_code == 201
    assert (response.json()["actor_kind"], response.json()["author"]) == ("agent", "drift-monitor")


def test_history_lists_everything_oldest_first(in_review, alice, carol, api_for):
    api_for(alice).post(url(in_review, "annotations"), {"text": "Ready for review."}, format="json")
    sign(api_for(carol), in_review)
    history = api_for(alice).get(url(in_review, "history")).json()
    kinds = [(e["kind"], e["title"]) for e in history]
    assert kinds == [
        ("transition", "submit"),
        ("transition", "pass_tests"),
        ("transition", "pass_warmup"),
        ("annotation", "note"),
        ("signoff", "approve"),
        ("transition", "approve"),
    ]
    assert [e["actor_kind"] for e in history] == ["human", "agent", "agent", "human", "human", "human"]
    assert history[1]["actor"] == "test-runner"
    assert history[-1]["from_state"] == "in_review" and history[-1]["to_state"] == "approved"
    assert all(set(e) >= {"kind", "from_state", "to_state", "actor", "actor_kind", "annotation", "at"} for e in history)
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)


def test_history_is_404_for_outsiders(version, eve, api_for):
    assert api_for(eve).get(url(version, "history")).status_code == 404


def test_history_merges_the_sources_listed_in_the_wiring(version, alice, api_for, monkeypatch):
    from governance import version_wiring

    monkeypatch.setattr(
        version_wiring, "VERSION_HISTORY_SOURCES", (*version_wiring.VERSION_HISTORY_SOURCES, f"{__name__}._suite_entries")
    )
    history = api_for(alice).get(url(version, "history")).json()
    assert history[0]["kind"] == "test_run" and history[0]["actor"] == "test-runner"


def _suite_entries(version):
    from workflows.lifecycle.history import HistoryEntry

    return [HistoryEntry(kind="test_run", at=version.created_at, actor=None, actor_kind="agent",
                         agent_name="test-runner", title="suite", annotation="8 of 8 checks passed")]


# --- Policy administration ---------------------------------------------------------------------------


def test_admin_changes_a_policy_and_the_change_is_audited(admin_user, client):
    client.force_login(admin_user)
    policy = ApprovalPolicy.objects.get(risk_tier="high")
    response = client.post(f"/admin/lifecycle/approvalpolicy/{policy.pk}/change/", {"required_approvals": 4, "min_shadow_hours": 168, "min_shadow_requests": 1000})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.required_approvals == 4
    entry = LogEntry.objects.get_for_object(policy).latest("timestamp")
    assert entry.actor == admin_user
    assert entry.changes_dict["required_approvals"] == ["2", "4"]


def test_staff_without_the_admin_role_cannot_change_a_policy(client):
    # Staff who hold Django's model permission but not the admin role are refused all the same.
    from django.contrib.auth.models import Permission

    clerk = factories.make_user("clerk", "validator", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["change_approvalpolicy", "view_approvalpolicy"]))
    client.force_login(clerk)
    policy = ApprovalPolicy.objects.get(risk_tier="high")
    response = client.post(f"/admin/lifecycle/approvalpolicy/{policy.pk}/change/", {"required_approvals": 1})
    assert response.status_code == 403
    policy.refresh_from_db()
    assert policy.required_approvals == 2


def test_policy_needs_at_least_one_approval(admin_user, client):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalPolicy.objects.filter(risk_tier="low").update(required_approvals=0)


def test_history_is_read_only_in_the_admin(admin_user, client, in_review):
    client.force_login(admin_user)
    record = TransitionRecord.objects.filter(version=in_review).first()
    assert client.get("/admin/lifecycle/transitionrecord/").status_code == 200
    assert client.get("/admin/lifecycle/transitionrecord/add/").status_code == 403
    assert client.post(f"/admin/lifecycle/transitionrecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TransitionRecord.objects.filter(pk=record.pk).exists()


def test_a_reviewer_without_a_portal_password_cannot_sign(in_review, carol, api_for):
    carol.set_unusable_password()
    carol.save(update_fields=["password"])
    response = sign(api_for(carol), in_review)
    assert (response.status_code, response.json()["code"]) == (403, "no_password")
    assert not SignOff.objects.exists()


def test_a_signature_on_other_bytes_than_the_versions_is_409(in_review, carol, api_for):
    response = sign(api_for(carol), in_review, artifact_sha256="0" * 64)
    assert (response.status_code, response.json()["code"]) == (409, "artifact_mismatch")
    assert not SignOff.objects.exists()
    assert sign(api_for(carol), in_review, artifact_sha256=in_review.artifact_sha256.upper()).status_code == 201
