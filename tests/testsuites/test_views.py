"""The progress endpoint, the suite API and the suite editor page: who may see and change what."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.urls import NoReverseMatch, reverse

from governance.audit.models import AuditEvent
from workflows.testsuites.models import SuiteChangeProposal, TestRun, TestSuiteConfig

from .. import factories

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def test_progress_json_for_a_viewer_and_404_for_an_outsider(client, version, alice, eve):
    TestRun.objects.create(version=version, sequence=1, config_snapshot=[{"kind": "schema"}, {"kind": "drift", "threshold": 0.2}])
    url = reverse("testsuites:version_progress", kwargs={"slug": version.model.slug, "number": version.number})

    data = login(client, alice).get(url).json()
    assert data["active"] is True and data["state"] == "draft"
    assert data["test_run"]["status"] == "queued" and data["test_run"]["checks_total"] == 2
    assert login(client, eve).get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the sign-in page


def test_progress_api_answers_404_to_outsiders(api_for, version, alice, eve):
    url = f"/api/v1/models/{version.model.slug}/versions/{version.number}/test-progress/"
    assert api_for(alice).get(url).json()["test_run"] is None
    assert api_for(eve).get(url).status_code == 404


def test_suite_api_get_put_with_permissions_and_audit(api_for, credit_model, alice, bob, carol, eve):
    url = f"/api/v1/models/{credit_model.slug}/test-suite/"
    shown = api_for(bob).get(url).json()
    assert shown["customised"] is False and shown["can_edit"] is False and shown["can_propose"] is False
    assert shown["checks"][0]["metric"] == "accuracy"
    assert api_for(alice).get(url).json()["can_propose"] is True
    assert api_for(alice).get(url).json()["can_edit"] is False
    assert api_for(eve).get(url).status_code == 404
    assert api_for(eve).put(url, {"checks": [{"kind": "schema"}], "reason": "r"}, format="json").status_code == 404

    for refused_user in (bob, alice):  # the owner proposes instead
        refused = api_for(refused_user).put(url, {"checks": [{"kind": "schema"}], "reason": "r"}, format="json")
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"

    bad = api_for(carol).put(url, {"checks": [{"kind": "metric", "metric": "accuracy"}], "reason": "r"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_checks"
    assert "'threshold' is required" in bad.json()["checks"][0]
    no_reason = api_for(carol).put(url, {"checks": [{"kind": "schema"}]}, format="json")
    assert no_reason.status_code == 400 and no_reason.json()["code"] == "reason_required"
    assert not TestSuiteConfig.objects.exists()

    checks = [{"kind": "metric", "metric": "accuracy", "threshold": 0.9}]
    saved = api_for(carol).put(url, {"checks": checks, "reason": "Stricter."}, format="json")
    assert saved.status_code == 200
    assert saved.json()["checks"] == [{"kind": "metric", "metric": "accuracy", "threshold": 0.9, "comparison": ">="}]
    config = TestSuiteConfig.objects.get(model=credit_model)
    assert config.updated_by == carol
    assert LogEntry.objects.get_for_object(config).count() == 1


def test_suite_proposals_over_the_api(api_for, credit_model, alice, bob, carol, dave, eve):
    base = f"/api/v1/models/{credit_model.slug}/test-suite/proposals/"
    body = {"checks": [{"kind": "schema"}], "reason": "Only the schema matters here."}
    assert api_for(eve).post(base, body, format="json").status_code == 404
    assert api_for(bob).post(base, body, format="json").status_code == 403
    assert api_for(alice).post(base, {"checks": [{"kind": "schema"}]}, format="json").json()["code"] == "reason_required"

    made = api_for(alice).post(base, body, format="json")
    assert made.status_code == 201, made.json()
    proposal = made.json()
    assert proposal["status"] == "pending" and proposal["proposed_by"] == "alice"
    assert "removed: Accuracy at least 0.75" in proposal["changes"]
    assert api_for(alice).get(f"/api/v1/models/{credit_model.slug}/test-suite/").json()["customised"] is False

    listed = api_for(bob).get(base).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == proposal["id"]
    assert api_for(eve).get(base).status_code == 404
    one = f"{base}{proposal['id']}/"
    assert api_for(bob).get(one).json()["reason"] == "Only the schema matters here."
    assert api_for(eve).get(one).status_code == 404

    assert api_for(alice).post(one + "approve/", {"reason": "mine"}, format="json").status_code == 403
    assert api_for(bob).post(one + "approve/", {"reason": "no"}, format="json").status_code == 403
    assert api_for(carol).post(one + "withdraw/", {}, format="json").status_code == 403
    assert api_for(carol).post(one + "approve/", {}, format="json").json()["code"] == "reason_required"
    approved = api_for(carol).post(one + "approve/", {"reason": "Agreed."}, format="json")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "carol"
    assert api_for(alice).get(f"/api/v1/models/{credit_model.slug}/test-suite/").json()["checks"] == [{"kind": "schema"}]
    again = api_for(dave).post(one + "reject/", {"reason": "late"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "not_pending"


def _pages_available() -> bool:
    try:
        reverse("registry:model_list")
        reverse("registry:dataset_list")
    except NoReverseMatch:
        return False
    return True


needs_pages = pytest.mark.skipif(
    not _pages_available(), reason="base.html links the registry pages, which come with the pages branch"
)


@needs_pages
def test_suite_page_saves_for_a_reviewer_and_refuses_others(client, credit_model, alice, carol, bob, eve):
    url = reverse("testsuites:suite_edit", kwargs={"slug": credit_model.slug})
    assert login(client, eve).get(url).status_code == 404
    read_only = login(client, bob).get(url)  # a contributor reads the suite, without a form
    assert read_only.status_code == 200 and b"Accuracy at least 0.75" in read_only.content
    assert b'name="checks"' not in read_only.content
    assert client.post(url, {"checks": '[{"kind": "schema"}]', "reason": "mine"}).status_code == 403

    page = login(client, carol).get(url)
    assert page.status_code == 200 and b"defaults of its risk tier" in page.content
    assert b"Save the test suite" in page.content
    bad = client.post(url, {"checks": "[{\"kind\": \"magic\"}]", "reason": "r"})
    assert bad.status_code == 400 and b"unknown kind" in bad.content
    assert b"magic" in bad.content  # what was typed stays in the form
    broken = client.post(url, {"checks": "[{", "reason": "r"})
    assert broken.status_code == 400 and b"not valid JSON" in broken.content
    reasonless = client.post(url, {"checks": "[{\"kind\": \"schema\"}]", "reason": ""})
    assert reasonless.status_code == 400 and not TestSuiteConfig.objects.exists()
    saved = client.post(url, {"checks": "[{\"kind\": \"schema\"}]", "reason": "Schema only."})
    assert saved.status_code == 302
    assert TestSuiteConfig.objects.get(model=credit_model).checks == [{"kind": "schema"}]


@needs_pages
def test_owner_page_edit_is_a_proposal_shown_as_a_diff_and_decided_on_the_model_page(client, credit_model, alice, carol, dave):
    url = reverse("testsuites:suite_edit", kwargs={"slug": credit_model.slug})
    page = login(client, alice).get(url)
    assert b"Propose this change" in page.content and b"Save the test suite" not in page.content
    checks = '[{"kind": "metric", "metric": "accuracy", "threshold": 0.7}, {"kind": "latency", "rows": 1, "threshold": 80}]'
    made = client.post(url, {"checks": checks, "reason": "The new data is noisier."})
    assert made.status_code == 302
    assert not TestSuiteConfig.objects.exists()  # nothing applies yet
    proposal = SuiteChangeProposal.objects.get(model=credit_model)
    assert made.url == reverse("testsuites:proposal_detail", kwargs={"slug": credit_model.slug, "pk": proposal.pk})

    shown = client.get(made.url).content.decode()
    assert "Waiting for a validator" in shown and "the suite in force is unchanged" in shown
    assert "accuracy at least 0.75 → 0.70" in shown
    assert "latency for 1 row at most 50 → 80 ms" in shown
    assert "Latency for 1 row at most 50 ms (95th percentile of 30 calls)" in shown
    assert "Removed" in shown and "The new data is noisier." in shown
    assert '"kind"' not in shown and "'kind'" not in shown  # words, not the raw checks
    assert "Approve and apply" not in shown  # the owner cannot decide
    assert "Withdraw" in shown

    model_page = client.get(credit_model.get_absolute_url()).content.decode()
    assert "Changes waiting for a validator" in model_page and "Approve and apply" not in model_page

    validator_page = login(client, carol).get(credit_model.get_absolute_url()).content.decode()
    assert "Approve and apply" in validator_page and "accuracy at least 0.75 → 0.70" in validator_page
    approve = reverse("testsuites:proposal_approve", kwargs={"slug": credit_model.slug, "pk": proposal.pk})
    reasonless = client.post(approve, {"reason": ""})
    assert reasonless.status_code == 400 and not TestSuiteConfig.objects.exists()
    assert client.post(approve, {"reason": "Agreed with the data team."}).status_code == 302
    assert TestSuiteConfig.objects.get(model=credit_model).checks[0]["threshold"] == 0.7
    decided = client.get(made.url).content.decode()
    assert "Approved and applied" in decided and "Carol Tester" in decided and "Agreed with the data team." in decided

    late = login(client, dave).post(approve, {"reason": "me too"})
    assert late.status_code == 409 and "no longer waiting" in late.content.decode()


@needs_pages
def test_proposal_pages_refuse_who_may_not_decide_or_withdraw(client, credit_model, alice, bob, carol, eve):
    from workflows.testsuites import services

    proposal = services.suite_change_propose(
        actor=alice, model=credit_model, raw_checks=[{"kind": "schema"}], reason="Schema only."
    )
    kwargs = {"slug": credit_model.slug, "pk": proposal.pk}
    detail = reverse("testsuites:proposal_detail", kwargs=kwargs)
    approve = reverse("testsuites:proposal_approve", kwargs=kwargs)
    reject = reverse("testsuites:proposal_reject", kwargs=kwargs)
    withdraw = reverse("testsuites:proposal_withdraw", kwargs=kwargs)
    assert login(client, eve).get(detail).status_code == 404
    assert client.post(approve, {"reason": "x"}).status_code == 404
    for user in (alice, bob):
        assert login(client, user).post(approve, {"reason": "x"}).status_code == 403
        assert client.post(reject, {"reason": "x"}).status_code == 403
    assert login(client, carol).post(withdraw, {}).status_code == 403
    assert SuiteChangeProposal.objects.get(pk=proposal.pk).status == "pending"

    rejected = client.post(reject, {"reason": "Too lax."})
    assert rejected.status_code == 302
    assert SuiteChangeProposal.objects.get(pk=proposal.pk).status == "rejected"
    assert not TestSuiteConfig.objects.exists()
    assert "Too lax." in client.get(detail).content.decode()

    second = services.suite_change_propose(
        actor=alice, model=credit_model, raw_checks=[{"kind": "schema"}], reason="Again."
    )
    withdraw = reverse("testsuites:proposal_withdraw", kwargs={"slug": credit_model.slug, "pk": second.pk})
    assert login(client, alice).post(withdraw, {"reason": "Not needed."}).status_code == 302
    assert SuiteChangeProposal.objects.get(pk=second.pk).status == "withdrawn"
    other = factories.make_model(alice, name="Other model")
    elsewhere = reverse("testsuites:proposal_detail", kwargs={"slug": other.slug, "pk": second.pk})
    assert client.get(elsewhere).status_code == 404  # a proposal answers under its own model only


def test_admin_form_validates_checks_for_the_models_task(alice):
    from workflows.testsuites.admin import TestSuiteConfigForm

    model = factories.make_model(alice, name="Prices", task="regression")
    form = TestSuiteConfigForm(data={"model": model.pk, "checks": '[{"kind": "metric", "metric": "accuracy", "threshold": 1}]', "reason": "r"})
    assert not form.is_valid() and "metric must be one of rmse, mae, r2" in form.errors["checks"][0]
    good = TestSuiteConfigForm(data={"model": model.pk, "checks": '[{"kind": "metric", "metric": "r2", "threshold": 0.3}]', "reason": "r"})
    assert good.is_valid(), good.errors
    assert good.cleaned_data["checks"][0]["comparison"] == ">="


def test_admin_may_edit_a_suite_by_page_and_api_alike(client, api_for, credit_model, admin_user):
    assert api_for(admin_user).get(f"/api/v1/models/{credit_model.slug}/test-suite/").json()["can_edit"] is True
    client.force_login(admin_user)
    assert client.get(f"/models/{credit_model.slug}/test-suite/").status_code == 200


def test_suite_admin_saves_through_the_service_and_refuses_other_staff(client, credit_model, admin_user):
    import json

    from django.contrib.auth.models import Permission

    checks = [{"kind": "metric", "metric": "accuracy", "threshold": 0.8}]
    login(client, admin_user)
    add = "/admin/testsuites/testsuiteconfig/add/"
    reasonless = client.post(add, {"model": credit_model.pk, "checks": json.dumps(checks)})
    assert reasonless.status_code == 200 and not TestSuiteConfig.objects.exists()  # the form asks for a reason
    response = client.post(add, {"model": credit_model.pk, "checks": json.dumps(checks), "reason": "Model-risk bar."})
    assert response.status_code == 302, response.content.decode()[:2000]
    config = TestSuiteConfig.objects.get(model=credit_model)
    assert config.updated_by == admin_user and config.checks[0]["threshold"] == 0.8
    assert LogEntry.objects.get_for_object(config).latest("timestamp").actor == admin_user
    changed = AuditEvent.objects.get(action="suite.changed")
    assert changed.actor == admin_user and changed.details["reason"] == "Model-risk bar."

    # Staff holding Django's model permissions but not the admin role are refused.
    clerk = factories.make_user("clerk", "validator", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(content_type__app_label="testsuites"))
    login(client, clerk)
    url = f"/admin/testsuites/testsuiteconfig/{config.pk}/change/"
    assert client.post(url, {"checks": json.dumps([{"kind": "schema"}]), "reason": "r"}).status_code == 403
    config.refresh_from_db()
    assert config.checks[0]["kind"] == "metric"


def test_suite_admin_is_read_only_for_an_admin_who_owns_the_model(client, credit_model, alice, carol):
    import json

    owner_admin = factories.make_user("olga", "admin", is_staff=True)
    factories.grant(model=credit_model, user=owner_admin, role="owner", granted_by=alice)
    login(client, owner_admin)
    add = client.post(
        "/admin/testsuites/testsuiteconfig/add/",
        {"model": credit_model.pk, "checks": json.dumps([{"kind": "schema"}]), "reason": "mine"},
    )
    assert add.status_code == 200 and "You own this model" in add.content.decode()
    assert not TestSuiteConfig.objects.exists()

    from workflows.testsuites import services

    config = services.suite_config_set(actor=carol, model=credit_model, raw_checks=[{"kind": "drift", "threshold": 0.2}], reason="r")
    url = f"/admin/testsuites/testsuiteconfig/{config.pk}/change/"
    assert client.get(url).status_code == 200  # seen, not changed
    assert client.post(url, {"checks": json.dumps([{"kind": "schema"}]), "reason": "mine"}).status_code == 403
    assert TestSuiteConfig.objects.get(pk=config.pk).checks[0]["kind"] == "drift"


def test_proposals_are_read_only_in_the_admin_and_shown_in_words(client, credit_model, alice, admin_user):
    from workflows.testsuites import services

    proposal = services.suite_change_propose(
        actor=alice, model=credit_model, raw_checks=[{"kind": "schema"}], reason="Schema only."
    )
    login(client, admin_user)
    base = "/admin/testsuites/suitechangeproposal/"
    assert client.get(base).status_code == 200
    page = client.get(f"{base}{proposal.pk}/change/").content.decode()
    assert "removed: Accuracy at least 0.75" in page and '"kind"' not in page
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{proposal.pk}/change/", {"reason": "edited"}).status_code == 403
    assert client.post(f"{base}{proposal.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SuiteChangeProposal.objects.get(pk=proposal.pk).reason == "Schema only."


@needs_pages
def test_version_page_shows_the_suite_each_run_was_held_to(client, version, alice):
    TestRun.objects.create(
        version=version, sequence=1, status="failed",
        config_snapshot=[{"kind": "metric", "metric": "accuracy", "threshold": 0.9, "comparison": ">="},
                         {"kind": "latency", "rows": 1, "threshold": 50.0, "repeats": 30}],
    )
    page = login(client, alice).get(version.get_absolute_url()).content.decode()
    assert "Held to the suite in force when it was queued (2 checks)" in page
    assert "Accuracy at least 0.90" in page and "Latency for 1 row at most 50 ms (95th percentile of 30 calls)" in page


@needs_pages
def test_model_page_shows_the_suite_in_force_to_a_viewer_without_forms(client, credit_model, alice, eve):
    from workflows.testsuites import services

    viewer = factories.make_user("victor", "data_scientist")
    factories.grant(model=credit_model, user=viewer, role="viewer", granted_by=alice)
    services.suite_change_propose(actor=alice, model=credit_model, raw_checks=[{"kind": "schema"}], reason="Schema only.")
    page = login(client, viewer).get(credit_model.get_absolute_url()).content.decode()
    assert "The defaults of its risk tier: 8 checks every version must pass." in page
    assert "Changes waiting for a validator" in page and "Approve and apply" not in page
    assert "See the suite</a>" in page
