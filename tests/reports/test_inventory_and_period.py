"""The inventory (page, CSV, PDF) and the period report (HTML, PDF): for auditors and admins,
exactly the models the reader may see, every opening in the trail."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.audit.models import AuditEvent
from tests import factories
from tests.audit.conftest import tamper

from .conftest import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_model(eve):
    """A model nobody in the credit-risk team holds a grant on."""
    return factories.make_model(eve, name="Fraud <alerts>", risk_tier="low")


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_inventory_lists_every_model_the_auditor_may_see_with_its_facts(
    champion, other_model, audrey, client, drain_access,
):
    client.force_login(audrey)
    page = client.get(reverse("reports:inventory"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Credit risk" in html and "Fraud &lt;alerts&gt;" in html and "<alerts>" not in html

    rows = csv_rows(client.get(reverse("reports:inventory_csv")))
    assert [row["Model"] for row in rows] == ["Credit risk", "Fraud <alerts>"]
    credit = rows[0]
    assert credit["Owners"] == "Alice Tester" and credit["Risk tier"] == "High"
    assert credit["Champion"] == "v1" and credit["Champion since"].endswith("UTC")
    assert credit["Last validation"].endswith("UTC") and credit["Next periodic review"].endswith("UTC")
    assert credit["Open reviews"] == "0" and credit["Drift flags"] == ""
    assert rows[1]["Champion"] == "" and rows[1]["Owners"] == "Eve Tester"

    pdf = client.get(reverse("reports:inventory_pdf"))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert "Credit risk" in text and "Fraud <alerts>" in text and "Page 1 of" in text

    drain_access()
    actions = list(
        AuditEvent.objects.filter(action__startswith="report.inventory", actor_username="audrey")
        .order_by("seq").values_list("action", flat=True)
    )
    assert actions == ["report.inventory.viewed", "report.inventory.downloaded", "report.inventory.downloaded"]


def test_inventory_shows_an_admin_the_same_models(champion, other_model, admin_user, client):
    client.force_login(admin_user)
    rows = csv_rows(client.get(reverse("reports:inventory_csv")))
    assert {row["Slug"] for row in rows} == {champion.model.slug, other_model.slug}


@pytest.mark.parametrize("name", ["inventory", "inventory_csv", "inventory_pdf", "period", "period_pdf"])
def test_owner_validator_and_outsider_are_refused(name, credit_model, alice, carol, eve, client, drain_access):
    for user in (alice, carol, eve):
        client.force_login(user)
        assert client.get(reverse(f"reports:{name}")).status_code == 403
    drain_access()
    assert not AuditEvent.objects.filter(action__startswith="report.").exists()


def test_period_report_lists_what_happened_in_the_range(champion, audrey, client, drain_access):
    client.force_login(audrey)
    today = timezone.now().date()
    page = client.get(reverse("reports:period"), {"since": today.isoformat(), "until": today.isoformat()})

    assert page.status_code == 200
    html = page.content.decode()
    assert "The audit chain verifies" in html
    assert "Shadow results good." in html  # the promotion, with its annotation
    assert html.count("Reviewed and approved for production use") == 2
    assert "Carol Tester" in html and "Dave Tester" in html
    drain_access()
    assert AuditEvent.objects.filter(action="report.period.viewed", actor_username="audrey").exists()

    before = today - timedelta(days=10)
    earlier = client.get(reverse("reports:period"), {"since": before.isoformat(), "until": (today - timedelta(days=1)).isoformat()})
    assert "Shadow results good." not in earlier.content.decode()
    assert "Carol Tester" not in earlier.content.decode()

    pdf = client.get(reverse("reports:period_pdf"), {"since": today.isoformat(), "until": today.isoformat()})
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert "Carol Tester" in text and "The audit chain verifies" in text


def test_period_report_says_when_the_chain_does_not_verify(champion, audrey, client, db_owner):
    first = AuditEvent.objects.order_by("seq").values_list("seq", flat=True).first()
    tamper("UPDATE audit_auditevent SET summary = %s WHERE seq = %s", ["rewritten", first])
    client.force_login(audrey)

    html = client.get(reverse("reports:period")).content.decode()

    assert "The audit chain does not verify" in html and f"First bad entry: {first}" in html


def test_period_report_refuses_bad_dates_with_a_clear_message(audrey, client):
    client.force_login(audrey)
    response = client.get(reverse("reports:period"), {"since": "yesterday", "until": "2026-01-01"})
    assert response.status_code == 400
    assert "“yesterday” is not a date: use YYYY-MM-DD." in response.content.decode()
    response = client.get(reverse("reports:period_pdf"), {"since": "2026-02-01", "until": "2026-01-01"})
    assert response.status_code == 400
    assert "The first day comes after the last day." in response.content.decode()


def test_inventory_next_review_is_the_latest_passed_due_date_else_the_first_to_come(champion, audrey):
    """High risk: every 180 days from the day the version became champion."""
    from workflows.reports.selectors import inventory_rows, utc

    since = timezone.now() - timedelta(days=10)
    type(champion).objects.filter(pk=champion.pk).update(state_changed_at=since)
    (row,) = [row for row in inventory_rows(user=audrey) if row["model"].pk == champion.model_id]
    assert row["next_review"] == utc(since + timedelta(days=180))
    assert row["review_overdue"] is False

    since = timezone.now() - timedelta(days=400)
    type(champion).objects.filter(pk=champion.pk).update(state_changed_at=since)
    (row,) = [row for row in inventory_rows(user=audrey) if row["model"].pk == champion.model_id]
    assert row["next_review"] == utc(since + timedelta(days=360))
    assert row["review_overdue"] is True
