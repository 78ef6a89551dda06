"""The version report: a version from submission to champion, its PDF read back; who may get it;
every look in the trail; the same report kept until something changes; everything escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.audit.access_queue import access_drain
from governance.audit.models import AuditEvent
from tests import factories
from workflows.lifecycle.models import SignOff
from workflows.lifecycle.services import annotation_add
from workflows.reports import selectors, services, tasks

from .conftest import champion_journey, pdf_pages, pdf_text, squeezed

pytestmark = pytest.mark.django_db


def api_url(version, fmt: str) -> str:
    return f"/api/v1/models/{version.model.slug}/versions/{version.number}/report.{fmt}"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def report_events(version, action: str | None = None):
    """The version's report entries, the access events queued so far appended first."""
    access_drain()
    events = AuditEvent.objects.filter(model_slug=version.model.slug, version_number=version.number, action__startswith="report.")
    return events.filter(action=action) if action else events


def test_pdf_of_a_champion_names_each_signer_time_and_meaning_the_hashes_and_the_chain_head(champion, audrey, api_for):
    response = api_for(audrey).get(api_url(champion, "pdf"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    data = body(response)
    text = pdf_text(data)
    signoffs = list(SignOff.objects.filter(version=champion).order_by("at"))
    assert [s.signer_full_name for s in signoffs] == ["Carol Tester", "Dave Tester"]
    for signoff in signoffs:
        assert signoff.signer_full_name in text
        assert signoff.at.strftime("%Y-%m-%d %H:%M:%S UTC") in text
        assert signoff.meaning in text
    assert text.count("Reviewed and approved for production use") == 2
    anchor = selectors.chain_anchor()
    flat = squeezed(text)
    for digest in (champion.artifact_sha256, champion.training_dataset.sha256, champion.validation_dataset.sha256):
        assert digest in flat
    assert anchor.seq > 0 and anchor.hash in flat


def test_every_page_carries_model_version_time_author_page_number_and_chain_head(champion, audrey, api_for):
    data = body(api_for(audrey).get(api_url(champion, "pdf")))
    made = services.report_files(champion, selectors.chain_anchor()).made()

    pages = pdf_pages(data)
    assert len(pages) > 1
    for number, page in enumerate(pages, start=1):
        assert "Credit risk · version 1" in page
        assert f"Generated {made['generated_at']} by Audrey Tester" in page
        assert f"Page {number} of {len(pages)}" in page
        assert f"entry {made['anchor_seq']}" in page and made["anchor_hash"] in squeezed(page)


def test_report_holds_every_section_and_the_standards_mapping(champion, alice, api_for):
    response = api_for(alice).get(api_url(champion, "html"))

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for section in selectors.SECTION_TITLES.values():
        assert section in html
    for looked_for in ("Model inventory", "Independent validation", "Effective challenge", "Ongoing monitoring",
                       "Periodic review", "EU AI Act, Annex IV", "ISO/IEC 42001", "21 CFR Part 11"):
        assert looked_for in html
    # Identity, lineage, evidence, warm-up, history, standing.
    for fact in ("https://git.example.com/risk/credit@3f2a1b9", "Accuracy", "Shadow results good.",
                 "the validation data (the model had no production traffic yet)", "This version is the champion",
                 "No predictions served in production"):
        assert fact in html
    assert "<svg" in html  # the warm-up charts, as vector images
    assert "metric:accuracy" not in html  # checks read in words, as on the version page
    # The test run's evidence charts, drawn by the same functions as the version page.
    assert 'aria-label="ROC curve' in html and "Confusion matrix" in html


def test_usage_counts_predictions_served_but_not_shadow_scoring(champion, audrey, api_for):
    from workflows.testsuites.models import ScoringRecord

    for index in range(3):
        ScoringRecord.objects.create(model=champion.model, version=champion, trace_id=f"t{index}", inputs=[{}])
    ScoringRecord.objects.create(model=champion.model, version=champion, trace_id="s", inputs=[{}], shadow=True)

    html = api_for(audrey).get(api_url(champion, "html")).content.decode()

    assert "3 predictions served, from" in html
    assert "1 request scored in shadow" in html


def test_outsider_gets_404_everywhere_and_nothing_is_built(champion, eve, api_for, client):
    api = api_for(eve)
    for fmt in ("pdf", "html"):
        response = api.get(api_url(champion, fmt))
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = api.get(f"/api/v1/models/{champion.model.slug}/versions/1/evidence-pack.zip")
    assert response.status_code == 404
    client.force_login(eve)
    args = [champion.model.slug, champion.number]
    for name in ("version_report", "version_report_html", "version_report_pdf", "evidence_pack"):
        assert client.get(reverse(f"reports:{name}", args=args)).status_code == 404
    assert client.post(reverse("reports:version_report", args=args)).status_code == 404
    assert not services.report_dir(champion).exists()
    assert not report_events(champion).exists()


def test_anonymous_caller_is_refused(champion, client):
    assert client.get(api_url(champion, "pdf")).status_code in (401, 403)
    response = client.get(reverse("reports:version_report_pdf", args=[champion.model.slug, 1]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_service_refuses_someone_who_cannot_see_the_model(champion, eve):
    from django.http import Http404

    with pytest.raises(Http404):
        services.version_report_build(version=champion, actor=eve)
    with pytest.raises(Http404):
        services.version_report_open(version=champion, actor=eve, fmt="pdf")


def test_generating_viewing_and_downloading_are_in_the_trail_and_the_file_is_kept(champion, audrey, bob, api_for):
    api_for(audrey).get(api_url(champion, "pdf"))
    generated = report_events(champion, "report.generated")
    assert [(e.actor_username, e.kind) for e in generated] == [("audrey", "access")]
    assert report_events(champion, "report.downloaded").get().actor_username == "audrey"
    files = sorted(services.report_dir(champion).iterdir())

    html = api_for(bob).get(api_url(champion, "html"))
    again = api_for(bob).get(api_url(champion, "pdf"))

    assert html.status_code == 200 and again.status_code == 200
    assert report_events(champion, "report.generated").count() == 1  # not rebuilt
    assert sorted(services.report_dir(champion).iterdir()) == files
    assert report_events(champion, "report.viewed").get().actor_username == "bob"
    assert [e.actor_username for e in report_events(champion, "report.downloaded").order_by("seq")] == ["audrey", "bob"]
    # The copy bob reads names who generated it.
    assert "by Audrey Tester (audrey)" in html.content.decode()


def test_a_new_record_makes_a_new_report_and_keeps_the_old_one(champion, audrey, alice, api_for):
    api_for(audrey).get(api_url(champion, "pdf"))
    first = selectors.chain_anchor()

    annotation_add(version=champion, author=alice, text="Monitoring looks steady.")
    second = selectors.chain_anchor()
    html = api_for(audrey).get(api_url(champion, "html")).content.decode()

    assert second.seq > first.seq
    assert "Monitoring looks steady." in html and f"entry {second.seq}" in html
    assert services.report_files(champion, first).ready and services.report_files(champion, second).ready
    assert report_events(champion, "report.generated").count() == 2


def test_everything_people_wrote_is_escaped_in_html_and_pdf(
    high_model, alice, carol, dave, oscar, datasets, audrey, api_for, django_capture_on_commit_callbacks
):
    from governance.registry.models import MLModel

    hostile = '<script>alert("x")</script><b>bold</b>'
    MLModel.objects.filter(pk=high_model.pk).update(description=hostile)
    carol.first_name = "<img src=x onerror=alert(1)>"
    carol.save()
    version = factories.make_version(MLModel.objects.get(pk=high_model.pk), alice, datasets=datasets)
    version = champion_journey(
        version, submitter=alice, reviewers=[carol, dave], operator=oscar,
        capture=django_capture_on_commit_callbacks, annotation=hostile,
    )

    html = api_for(audrey).get(api_url(version, "html")).content.decode()
    assert "<script>" not in html and "<b>bold</b>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; Tester" in html

    text = pdf_text(body(api_for(audrey).get(api_url(version, "pdf"))))
    assert '<script>alert("x")</script><b>bold</b>' in text  # shown as text, not run or dropped
    assert "<img src=x onerror=alert(1)> Tester" in text


def test_page_queues_the_build_shows_progress_then_offers_the_files(
    champion, audrey, client, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.build_version_report, "delay", lambda *args: queued.append(args))
    client.force_login(audrey)
    url = reverse("reports:version_report", args=[champion.model.slug, champion.number])

    page = client.get(url)
    assert page.status_code == 200 and "Build the report" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    anchor = selectors.chain_anchor()
    assert response["Location"].endswith(f"?at={anchor.key}")
    assert queued == [(champion.pk, audrey.pk, anchor.seq, anchor.hash)]

    waiting = client.get(response["Location"]).content.decode()
    assert "Waiting for a worker" in waiting and 'http-equiv="refresh"' in waiting
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url)  # asking again while queued queues nothing more
    assert len(queued) == 1

    tasks.build_version_report(*queued[0])  # what the worker runs

    ready = client.get(response["Location"]).content.decode()
    assert "Ready. Generated" in ready and "Audrey Tester" in ready and 'http-equiv="refresh"' not in ready
    pdf = client.get(reverse("reports:version_report_pdf", args=[champion.model.slug, 1]) + f"?at={anchor.key}")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert report_events(champion, "report.generated").count() == 1


def test_a_failed_build_is_shown_with_a_way_to_try_again(champion, audrey, client, monkeypatch):
    def broken(html):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(services, "html_to_pdf", broken)
    anchor = selectors.chain_anchor()
    services.progress_set(champion, anchor, "queued")
    with pytest.raises(RuntimeError):
        tasks.build_version_report(champion.pk, audrey.pk, anchor.seq, anchor.hash)

    client.force_login(audrey)
    page = client.get(reverse("reports:version_report", args=[champion.model.slug, 1])).content.decode()
    assert "The report could not be built: no fonts" in page and "Try again" in page
    assert not report_events(champion, "report.generated").exists()


def test_version_page_offers_the_report(champion, alice, client):
    client.force_login(alice)
    html = client.get(champion.get_absolute_url()).content.decode()
    assert 'id="compliance-report"' in html
    assert reverse("reports:version_report", args=[champion.model.slug, champion.number]) in html


def test_an_approval_with_conditions_reads_so_in_the_signature_manifest(credit_model, alice, carol, datasets, api_for):
    from governance.access.services import service_account_get
    from workflows.lifecycle.services import signoff_record

    from ..lifecycle.conftest import PATHS, walk

    users = {"alice": alice, "carol": carol, "oscar": None, "agent": service_account_get("test-runner")}
    version = walk(factories.make_version(credit_model, alice, datasets=datasets), PATHS["in_review"], users=users)
    signoff_record(
        version=version, signer=carol, decision="approve", annotation="With a monitor.", password=factories.PASSWORD,
        conditions=[{"description": "Monitor the income feature", "severity": "medium", "due": "2999-01-01"}],
    )

    html = api_for(alice).get(api_url(version, "html")).content.decode()

    assert "Approve with conditions" in html and "Monitor the income feature" in html
