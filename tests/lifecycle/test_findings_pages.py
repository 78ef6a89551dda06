"""Findings and conditions in the browser: the signing form's decisions and rows, the findings on
the version and model pages, closing one, the overdue flags and the resubmission link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from governance.registry import services as registry_services
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import findings, services
from workflows.lifecycle.models import Finding, SignOff

from .conftest import PATHS, walk

pytestmark = pytest.mark.django_db

PASSWORD = factories.PASSWORD


def sign_url(version) -> str:
    return reverse("lifecycle:sign", kwargs={"slug": version.model.slug, "number": version.number})


def close_url(finding) -> str:
    version = finding.version
    return reverse(
        "lifecycle:finding_close", kwargs={"slug": version.model.slug, "number": version.number, "pk": finding.pk}
    )


def due_in(days: int) -> str:
    return (findings.today() + timedelta(days=days)).isoformat()


def rows(prefix: str, items: list[dict], total: int = 3) -> dict:
    """What the browser posts for the form's blank rows, some of them filled in."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "20",
    }
    for index in range(total):
        item = items[index] if index < len(items) else {}
        data[f"{prefix}-{index}-description"] = item.get("description", "")
        data[f"{prefix}-{index}-severity"] = item.get("severity", "medium")
        data[f"{prefix}-{index}-due"] = item.get("due", "")
    return data


def signature(version, decision, *, conditions=(), findings_=(), **extra) -> dict:
    return {
        "decision": decision, "annotation": "Read every check.", "password": PASSWORD,
        "artifact_sha256": version.artifact_sha256, "evidence_reviewed": "on",
        **rows("conditions", list(conditions)), **rows("findings", list(findings_)), **extra,
    }


def fresh(version) -> ModelVersion:
    return ModelVersion.objects.get(pk=version.pk)


def no_raw_data(body: str) -> None:
    assert "{'" not in body and "[{" not in body and "None" not in body


# --- The signing form --------------------------------------------------------------------------


def test_signing_form_offers_four_decisions_blank_rows_and_the_evidence_confirmation(in_review, carol, client):
    client.force_login(carol)
    body = client.get(sign_url(in_review)).content.decode()
    for value, label in (("approve", "Approve"), ("approve_with_conditions", "Approve with conditions"),
                         ("request_changes", "Request changes"), ("reject", "Reject")):
        assert f'value="{value}"' in body and label in body
    for prefix in ("conditions", "findings"):
        assert f'name="{prefix}-TOTAL_FORMS" value="3"' in body
        assert f'name="{prefix}-2-description"' in body and f'name="{prefix}-3-description"' not in body
    assert 'type="date"' in body
    assert "I have reviewed the evidence summary above" in body
    assert 'name="evidence_reviewed"' in body and "required" in body.split('name="evidence_reviewed"')[1].split(">")[0]
    no_raw_data(body)


def test_requesting_changes_in_the_browser_records_the_findings(in_review, alice, carol, client):
    client.force_login(carol)
    response = client.post(
        sign_url(in_review),
        signature(in_review, "request_changes", findings_=[
            {"description": "Recall below 0.8 for applicants under 25.", "severity": "high"},
            {"description": "Explain the outliers.", "severity": "low", "due": due_in(10)},
        ]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert fresh(in_review).state == VersionState.CHANGES_REQUESTED
    assert [(f.kind, f.description, f.severity, f.owner, f.due) for f in Finding.objects.order_by("id")] == [
        ("finding", "Recall below 0.8 for applicants under 25.", "high", alice, None),
        ("finding", "Explain the outliers.", "low", alice, findings.today() + timedelta(days=10)),
    ]
    assert SignOff.objects.get().meaning == (
        "Reviewed; changes are required before approval. I have reviewed the evidence summary."
    )
    page = client.get(response.url).content.decode()
    assert "With 2 findings." in page
    assert "Recall below 0.8 for applicants under 25." in page


def test_approving_with_conditions_in_the_browser(in_review, carol, client):
    client.force_login(carol)
    response = client.post(
        sign_url(in_review),
        signature(in_review, "approve_with_conditions", conditions=[
            {"description": "Monitor income drift weekly.", "severity": "high", "due": due_in(30)},
        ]),
    )
    assert response.status_code == 302
    assert fresh(in_review).state == VersionState.APPROVED
    condition = Finding.objects.get()
    assert (condition.kind, condition.severity, condition.due.isoformat()) == ("condition", "high", due_in(30))


@pytest.mark.parametrize(
    "decision,conditions,findings_,message",
    [
        ("approve_with_conditions", [], [], "lists at least one condition"),
        ("approve", [{"description": "Monitor.", "due": "2999-01-01"}], [], "choose “Approve with conditions”"),
        ("approve_with_conditions", [{"description": "Monitor.", "due": "2001-01-01"}], [], "is in the past"),
        ("approve_with_conditions", [{"description": "Monitor."}], [], "This field is required."),
        ("reject", [{"description": "Monitor.", "due": "2999-01-01"}], [], "Conditions go with an approval only"),
        ("request_changes", [], [], "lists at least one finding"),
        ("approve", [], [{"description": "A gap."}], "An approval carries conditions, not findings"),
    ],
    ids=["no-conditions", "conditions-with-plain-approve", "due-in-the-past", "no-due", "conditions-with-reject",
         "changes-without-findings", "findings-with-approve"],
)
def test_bad_rows_are_refused_with_everything_typed_kept(in_review, carol, client, decision, conditions, findings_, message):
    client.force_login(carol)
    response = client.post(sign_url(in_review), signature(in_review, decision, conditions=conditions, findings_=findings_))
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "Read every check." in body
    for item in conditions + findings_:
        assert item["description"] in body
    assert PASSWORD not in body
    assert fresh(in_review).state == VersionState.IN_REVIEW
    assert not SignOff.objects.exists() and not Finding.objects.exists()


def test_signing_without_confirming_the_evidence_is_refused(in_review, carol, client):
    client.force_login(carol)
    data = signature(in_review, "approve")
    del data["evidence_reviewed"]
    response = client.post(sign_url(in_review), data)
    assert response.status_code == 400
    assert "Confirm that you have reviewed the evidence summary" in response.content.decode()
    assert not SignOff.objects.exists()


# --- The version page, closing ----------------------------------------------------------------


@pytest.fixture
def conditioned(in_review, carol):
    services.signoff_record(
        version=in_review, signer=carol, decision="approve", annotation="With monitoring.", password=PASSWORD,
        conditions=[{"description": "Monitor income drift weekly.", "severity": "high", "due": due_in(30)}],
    )
    return fresh(in_review)


def test_version_page_lists_findings_with_history_and_offers_closing_to_independent_validators(
    conditioned, alice, dave, client
):
    condition = Finding.objects.get()
    client.force_login(dave)
    body = client.get(conditioned.get_absolute_url()).content.decode()
    assert "Findings and conditions" in body and "Monitor income drift weekly." in body
    assert "1 condition open" in body
    assert "Alice Tester" in body and due_in(30) in body  # owner and due
    assert "Raised</strong> by Carol Tester" in body
    assert "Condition raised: “Monitor income drift weekly.”" in body  # the timeline
    assert f'action="{close_url(condition)}"' in body
    no_raw_data(body)
    client.force_login(alice)
    body = client.get(conditioned.get_absolute_url()).content.decode()
    assert "Monitor income drift weekly." in body and f'action="{close_url(condition)}"' not in body


def test_closing_in_the_browser(conditioned, alice, dave, eve, client):
    condition = Finding.objects.get()
    client.force_login(eve)
    assert client.get(close_url(condition)).status_code == 404
    assert client.post(close_url(condition), {"annotation": "x"}).status_code == 404
    client.force_login(alice)
    response = client.get(close_url(condition))
    assert response.status_code == 403 and "independent" in response.content.decode()
    assert client.post(close_url(condition), {"annotation": "done"}).status_code == 403
    client.force_login(dave)
    response = client.post(close_url(condition), {"annotation": ""})
    assert response.status_code == 400
    assert Finding.objects.get().status == "open"

    response = client.post(close_url(condition), {"annotation": "Drift dashboard in place."})
    assert response.status_code == 302
    closed = Finding.objects.get()
    assert (closed.status, closed.closed_by, closed.close_annotation) == ("closed", dave, "Drift dashboard in place.")
    body = client.get(conditioned.get_absolute_url()).content.decode()
    assert "Closed</strong> by Dave Tester" in body and "Drift dashboard in place." in body
    assert "condition open" not in body
    response = client.post(close_url(condition), {"annotation": "again"})
    assert response.status_code == 409 and "closed already" in response.content.decode()


# --- Overdue flags -----------------------------------------------------------------------------


def test_an_overdue_condition_flags_the_version_on_the_model_page_and_in_the_review_queue(
    conditioned, version_in, alice, carol, dave, client
):
    waiting = version_in("in_review")
    Finding.objects.update(due=findings.today() - timedelta(days=3))
    client.force_login(alice)
    body = client.get(conditioned.model.get_absolute_url()).content.decode()
    assert "Condition overdue" in body and f"past its due date on version {conditioned.number}" in body
    assert "Monitor income drift weekly." in body  # the model's findings
    no_raw_data(body)
    client.force_login(dave)
    body = client.get(reverse("lifecycle:review_queue")).content.decode()
    assert "Conditions past their due date" in body and "Monitor income drift weekly." in body
    assert close_url(Finding.objects.get()) in body
    assert f"v{waiting.number}" in body  # the queue itself is still there
    # alice authored the version: nothing of it in a queue of hers (she is no validator anyway).
    client.force_login(alice)
    assert "Conditions past their due date" not in client.get(reverse("lifecycle:review_queue")).content.decode()

    findings.finding_close(finding=Finding.objects.get(), actor=dave, annotation="Late, but done.")
    assert "Condition overdue" not in client.get(conditioned.model.get_absolute_url()).content.decode()
    client.force_login(dave)
    assert "Conditions past their due date" not in client.get(reverse("lifecycle:review_queue")).content.decode()


def test_the_model_page_lists_the_findings_of_every_version(version_in, carol, dave, alice, client):
    first = version_in("in_review")
    services.signoff_record(
        version=first, signer=carol, decision="request_changes", annotation="No.", password=PASSWORD,
        findings=[{"description": "Leakage in the income feature.", "severity": "high"}],
    )
    second = version_in("in_review")
    services.signoff_record(
        version=second, signer=dave, decision="approve", annotation="Yes.", password=PASSWORD,
        conditions=[{"description": "Retrain quarterly.", "severity": "low", "due": due_in(90)}],
    )
    client.force_login(alice)
    body = client.get(first.model.get_absolute_url()).content.decode()
    assert "Leakage in the income feature." in body and "Retrain quarterly." in body
    assert f"v{first.number}</a>" in body and f"v{second.number}</a>" in body
    assert "2 open" in body


# --- Resubmission ------------------------------------------------------------------------------


def test_uploading_a_resubmission_in_the_browser_links_both_ways(version_in, alice, carol, datasets, client):
    sent_back = version_in("in_review")
    services.signoff_record(
        version=sent_back, signer=carol, decision="request_changes", annotation="Fix recall.", password=PASSWORD,
        findings=[{"description": "Recall too low for the young.", "severity": "high"}],
    )
    client.force_login(alice)
    body = client.get(sent_back.get_absolute_url()).content.decode()
    upload = reverse("registry:version_create", kwargs={"slug": sent_back.model.slug})
    assert f"{upload}?resubmission_of={sent_back.number}" in body  # "Upload a resubmission"
    form = client.get(f"{upload}?resubmission_of={sent_back.number}").content.decode()
    assert f'<option value="{sent_back.number}" selected>Version {sent_back.number} (changes requested)</option>' in form

    files = factories.classifier_files()
    data = {
        "artifact": factories.upload("model.onnx", files["onnx"]), "training_dataset": datasets[0].pk,
        "validation_dataset": datasets[1].pk, "code_ref": "", "note": "Recall fixed.",
    }
    response = client.post(upload, {**data, "resubmission_of": "99"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    data["artifact"] = factories.upload("model.onnx", files["onnx"])
    response = client.post(upload, {**data, "resubmission_of": str(sent_back.number)})
    assert response.status_code == 302
    answer = ModelVersion.objects.get(resubmission_of=sent_back)

    body = client.get(answer.get_absolute_url()).content.decode()
    assert "Resubmission of" in body and f"version {sent_back.number}</a>" in body
    assert f"Findings of version {sent_back.number}, which this version answers" in body
    assert "Recall too low for the young." in body
    body = client.get(sent_back.get_absolute_url()).content.decode()
    assert "Answered by" in body and f"version {answer.number}</a>" in body


def test_the_upload_form_offers_no_resubmission_when_nothing_waits_for_changes(version, alice, client):
    client.force_login(alice)
    body = client.get(reverse("registry:version_create", kwargs={"slug": version.model.slug})).content.decode()
    assert 'name="resubmission_of"' not in body


def test_signing_page_of_a_resubmission_shows_the_findings_it_answers(version_in, alice, carol, dave, users, client):
    sent_back = version_in("in_review")
    services.signoff_record(
        version=sent_back, signer=carol, decision="request_changes", annotation="Fix recall.", password=PASSWORD,
        findings=[{"description": "Recall too low for the young.", "severity": "high"}],
    )
    files = factories.classifier_files()
    answer = registry_services.version_create(
        user=alice, model=sent_back.model, artifact=factories.upload("model.onnx", files["onnx"]),
        training_dataset=sent_back.training_dataset, validation_dataset=sent_back.validation_dataset,
        resubmission_of=sent_back.number,
    )
    answer = walk(answer, PATHS["in_review"], users=users)
    client.force_login(dave)
    body = client.get(sign_url(answer)).content.decode()
    assert "Changes this version answers" in body and "Recall too low for the young." in body
