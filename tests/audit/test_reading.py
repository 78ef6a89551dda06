"""Reading the trail: the API and the page for auditors and admins, streamed exports, champion on a date."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.audit.selectors import champion_on
from governance.audit.services import agent_event_record
from governance.audit.views import champion_panel_context
from tests import factories
from workflows.lifecycle.services import agent_transition, version_transition

from .conftest import last_event


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- API ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_auditor_and_admin_list_events_filtered_by_model(credit_model, audrey, admin_user, api_for):
    agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model)
    agent_event_record(agent_name="drift-monitor", action="drift.checked", summary="elsewhere")
    for user in (audrey, admin_user):
        body = api_for(user).get("/api/v1/audit/events/", {"model": credit_model.slug, "action": "drift"}).json()
        assert body["count"] == 1
        event = body["results"][0]
        assert (event["action"], event["model"], event["actor_kind"]) == ("drift.checked", credit_model.slug, "agent")
        assert event["at"].endswith("Z") and len(event["hash"]) == 64
    assert last_event(action="audit.viewed").actor_username == "admin"


@pytest.mark.django_db
def test_events_filter_by_actor_kind_and_time(alice, audrey, api_for):
    api_for(alice).post("/api/v1/models/", {"name": "Churn", "risk_tier": "low", "task": "classification"})
    client = api_for(audrey)
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    body = client.get("/api/v1/audit/events/", {"actor": "alice", "kind": "change"}).json()
    assert body["count"] >= 1 and {e["actor"] for e in body["results"]} == {"alice"}
    assert client.get("/api/v1/audit/events/", {"since": tomorrow}).json()["count"] == 0
    assert client.get("/api/v1/audit/events/", {"until": tomorrow}).json()["count"] >= 1
    bad = client.get("/api/v1/audit/events/", {"since": "last tuesday"})
    assert bad.status_code == 400 and "since" in bad.json()


@pytest.mark.django_db
def test_events_pages_by_cursor_with_the_count_and_the_filters_kept(credit_model, audrey, api_for):
    for number in range(7):
        agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model, data={"n": number})
    agent_event_record(agent_name="drift-monitor", action="drift.checked", summary="another model's")
    client = api_for(audrey)
    expected = list(AuditEvent.objects.filter(model_slug=credit_model.slug).order_by("-seq").values_list("seq", flat=True))
    assert len(expected) >= 7

    first = client.get("/api/v1/audit/events/", {"model": credit_model.slug, "page_size": 3}).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == len(expected) and first["previous"] is None
    seen, body = [], first
    while True:
        seen += [event["seq"] for event in body["results"]]
        assert body["count"] == len(expected)
        if body["next"] is None:
            break
        assert "cursor=" in body["next"] and f"model={credit_model.slug}" in body["next"]
        assert "page=" not in body["next"].replace("page_size=", "")
        last = body
        body = client.get(body["next"]).json()
    assert seen == expected  # newest first, each event once, none of the other model's

    back = client.get(body["previous"]).json()
    assert [event["seq"] for event in back["results"]] == [event["seq"] for event in last["results"]]


@pytest.mark.django_db
def test_events_pages_cost_the_same_queries_however_deep_and_long_the_trail(credit_model, audrey, api_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api_for(audrey)
    client.get("/api/v1/audit/events/")  # the token's first use is written once

    def queries_of(url, params=None) -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url, params).json()
        return len(queries), body

    for number in range(60):
        agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model, data={"n": number})
    first, body = queries_of("/api/v1/audit/events/", {"model": credit_model.slug, "page_size": 20})
    deeper, body = queries_of(body["next"])
    deepest, _ = queries_of(body["next"])
    unfiltered, _ = queries_of("/api/v1/audit/events/")
    for number in range(120):
        agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model, data={"n": number})
    longer, _ = queries_of("/api/v1/audit/events/", {"model": credit_model.slug, "page_size": 20})
    assert first == deeper == deepest == longer
    # Unfiltered, the count is the chain head's range plus the entries not sealed yet.
    assert unfiltered == first + 1


@pytest.mark.django_db
def test_unfiltered_events_count_is_every_entry_of_the_trail(credit_model, audrey, api_for, drain_access):
    for number in range(3):
        agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model, data={"n": number})
    client = api_for(audrey)
    body = client.get("/api/v1/audit/events/").json()
    # The request's own access entry is queued, and reaches the trail with the next drain.
    assert body["count"] == AuditEvent.objects.count() == len(body["results"])
    drain_access()
    assert client.get("/api/v1/audit/events/", {"page_size": 2}).json()["count"] == AuditEvent.objects.count()


@pytest.mark.django_db
def test_data_scientist_is_refused_the_trail_and_anonymous_must_sign_in(alice, eve, api_for, drain_access):
    for path in ("/api/v1/audit/events/", "/api/v1/audit/verify/"):
        assert api_for(eve).get(path).status_code == 403
        assert api_for(alice).get(path).status_code == 403
        assert Client().get(path).status_code == 401
    drain_access()
    assert not AuditEvent.objects.filter(action__startswith="audit.").exists()


# --- The page -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_page_shows_who_what_old_and_new_when_where_why(version, alice, audrey):
    version_transition(version=version, name="submit", actor=alice, annotation="Ready for tests.")
    response = _browser(audrey).get(reverse("audit:event_list"), {"model": version.model.slug})
    assert response.status_code == 200
    page = response.content.decode()
    assert "version.transition" in page and "Ready for tests." in page
    assert '<a href="/audit/">Audit trail</a>' in page  # the layout's link, for auditors and admins
    assert "alice" in page
    # A change shows its old and new values, and links to its object.
    version.model.description = "Scores retail credit applications."
    version.model.save()
    page = _browser(audrey).get(reverse("audit:event_list"), {"action": "mlmodel.updated"}).content.decode()
    assert "Scores retail credit applications." in page
    assert f'href="/models/{version.model.slug}/"' in page
    viewed = last_event(action="audit.viewed")
    assert viewed.actor_username == "audrey" and viewed.details["filters"] == {"action": "mlmodel.updated"}


@pytest.mark.django_db
def test_audit_page_pages_by_key(audrey):
    for number in range(60):
        agent_event_record(agent_name="scheduler", action="job.ran", summary=f"run number {number}")
    client = _browser(audrey)
    first = client.get(reverse("audit:event_list"), {"action": "job.ran"})
    assert "run number 59" in first.content.decode() and "run number 9<" not in first.content.decode()
    older = first.context["next_before"]
    second = client.get(reverse("audit:event_list"), {"action": "job.ran", "before": older}).content.decode()
    assert "run number 9<" in second and "run number 59" not in second


@pytest.mark.django_db
def test_page_and_api_refuse_the_trail_alike_with_403(alice, eve, api_for, drain_access):
    """Signed in without audit rights: 403 on every page and endpoint of the trail,
    and nothing recorded; signed out: the sign-in page, or 401 from the API."""
    for user in (alice, eve):
        for name in ("audit:event_list", "audit:export_csv", "audit:export_json"):
            page = _browser(user).get(reverse(name))
            assert page.status_code == 403, name
            assert "Only auditors and admins read the audit trail." in page.content.decode()
        for path in ("/api/v1/audit/events/", "/api/v1/audit/verify/"):
            answer = api_for(user).get(path)
            assert answer.status_code == 403
            assert answer.json()["detail"] == "Only auditors and admins read the audit trail."
    drain_access()
    assert not AuditEvent.objects.filter(action__startswith="audit.").exists()
    anonymous = Client().get(reverse("audit:event_list"))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


# --- Exports ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_csv_export_streams_the_filtered_trail_and_is_recorded(credit_model, audrey):
    for number in range(3):
        agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model, data={"n": number})
    agent_event_record(agent_name="drift-monitor", action="drift.checked")
    response = _browser(audrey).get(reverse("audit:export_csv"), {"model": credit_model.slug, "kind": "agent"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [json.loads(row["data"])["n"] for row in rows] == [0, 1, 2]
    assert {row["model_slug"] for row in rows} == {credit_model.slug}
    exported = last_event(action="audit.exported")
    assert exported.actor_username == "audrey" and exported.details["format"] == "csv"
    assert exported.details["filters"] == {"model": credit_model.slug, "kind": "agent"}


@pytest.mark.django_db
def test_export_with_bad_filters_is_refused_and_not_recorded(audrey, drain_access):
    response = _browser(audrey).get(reverse("audit:export_csv"), {"since": "soon"})
    assert response.status_code == 400 and b"since" in response.content
    drain_access()
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


@pytest.mark.django_db
def test_json_export_streams_and_is_recorded(credit_model, admin_user):
    agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model, data={"psi": 0.3})
    response = _browser(admin_user).get(reverse("audit:export_json"), {"action": "drift.checked"})
    assert response.streaming
    items = json.loads(b"".join(response.streaming_content))
    assert [item["data"] for item in items] == [{"psi": 0.3}]
    assert items[0]["seq"] < items[0]["seq"] + 1 and len(items[0]["prev_hash"]) == 64
    assert last_event(action="audit.exported").details["format"] == "json"


# --- Which version was champion on a date -------------------------------------------------------


def _promote(version, oscar, alice, test_runner, carol):
    version_transition(version=version, name="submit", actor=alice)
    agent_transition(
        version=version, name="pass_tests", agent=test_runner, agent_name="test-runner", annotation="Tests pass."
    )
    agent_transition(
        version=version, name="pass_warmup", agent=test_runner, agent_name="warmup", annotation="Warm-up fine."
    )
    factories.step(version, "approve", carol, annotation="Approved.")
    version_transition(version=version, name="promote_to_challenger", actor=oscar, annotation="Shadow first.")
    version_transition(version=version, name="promote_to_champion", actor=oscar, annotation="Better AUC.")


@pytest.mark.django_db
def test_champion_on_a_date_replays_the_transitions(
    credit_model, datasets, alice, oscar, carol, test_runner, monkeypatch
):
    factories.shadow_minimums()  # the second promotion is not about the shadow guardrail
    first = factories.make_version(credit_model, alice, datasets=datasets)
    second = factories.make_version(credit_model, alice, datasets=datasets)
    january = timezone.now() - timedelta(days=60)
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: january)
        _promote(first, oscar, alice, test_runner, carol)
    _promote(second, oscar, alice, test_runner, carol)  # retires the first one now

    assert champion_on(model=credit_model, at=january - timedelta(days=1)) is None
    answer = champion_on(model=credit_model, at=january + timedelta(days=1))
    assert (answer.version_number, answer.by) == (first.number, "oscar")
    assert champion_on(model=credit_model, at=timezone.now()).version_number == second.number


@pytest.mark.django_db
def test_champion_panel_answers_on_the_model_page(rf, credit_model, datasets, alice, oscar, carol, test_runner):
    version = factories.make_version(credit_model, alice, datasets=datasets)
    _promote(version, oscar, alice, test_runner, carol)
    request = rf.get("/", {"champion_on": timezone.now().isoformat()})
    context = champion_panel_context(request, credit_model)
    assert context["champion_answer"].version_number == version.number
    bad = champion_panel_context(rf.get("/", {"champion_on": "yesterday"}), credit_model)
    assert bad["champion_answer"] is None and bad["champion_form"].errors


@pytest.mark.django_db
def test_an_unfiltered_export_re_verifies_offline(credit_model, alice, audrey):
    """Every hashed field is in the export, in the form the hash covers: someone holding only
    the file can recompute each entry's hash and follow the chain."""
    from governance.audit.models import HASHED_FIELDS
    from governance.audit.hashing import canonical_data, content_hash
    from governance.csv_cells import cell_restore

    agent_event_record(agent_name="drift-monitor", action="drift.checked", obj=credit_model, data={"psi": 0.25})
    agent_event_record(agent_name="scheduler", action="job.ran", summary='quotes " and, commas\nnew line é')
    agent_event_record(agent_name="=scheduler", action="job.ran", summary="'-already quoted")
    version_transition(version=factories.make_version(credit_model, alice), name="submit", actor=alice)

    def check_chain(rows, value_of):
        assert len(rows) >= 3
        previous = None
        for row in rows:
            values = [value_of(row, field) for field in HASHED_FIELDS]
            assert content_hash(values) == row["hash"], row["seq"]
            if previous is not None:
                assert row["prev_hash"] == previous["hash"]
            previous = row

    def optional_int(text):
        return int(text) if text not in ("", None) else None

    def from_csv(row, field):
        if field == "seq":
            return int(row[field])
        if field in ("actor_id", "version_number"):
            return optional_int(row[field])
        # The export quotes text a spreadsheet would run as a formula; the rule is undone exactly.
        return cell_restore(row[field])

    response = _browser(audrey).get(reverse("audit:export_csv"))
    check_chain(list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))), from_csv)

    def from_json(row, field):
        return canonical_data(row[field]) if field == "data" else row[field]

    response = _browser(audrey).get(reverse("audit:export_json"))
    check_chain(json.loads(b"".join(response.streaming_content)), from_json)
