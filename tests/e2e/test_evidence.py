"""The evidence a reviewer signs on, in a real browser: a classifier and a regressor go through a
real test run and warm-up on a real worker, then a reviewer opens the version page and the
signing page and finds the charts drawn, every figure with its unit, and nothing raw.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from governance.registry.models import ModelVersion
from workflows.lifecycle.models import Finding
from workflows.lifecycle.services import version_transition
from workflows.testsuites import services as suite_services

from .. import factories
from ..testsuites.conftest import TEST_REDIS_URL, in_thread_worker, purge, use_broker, wait_for
from ..testsuites.helpers import EVERY_KIND_CLASSIFIER, EVERY_KIND_REGRESSOR, make_champion, regression_version
from .test_newcomer import browser_page, sign_in  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# What a Python dict, a JSON object, a list of them or a missing value look like on a page.
RAW = re.compile(r"\{'|\{\"|': |\bNone\b|\[\{|\bnan\b|\bNaN\b")


@pytest.fixture
def worker(settings):
    settings.GOVERNANCE_JOB_HEARTBEAT_SECONDS = 0.3
    use_broker(TEST_REDIS_URL)
    purge()
    with in_thread_worker() as running:
        yield running


def through_tests_and_warmup(version, submitter) -> ModelVersion:
    version_transition(version=version, name="submit", actor=submitter)
    wait_for(
        lambda: ModelVersion.objects.get(pk=version.pk).state in ("in_review", "tests_failed", "warmup_failed"),
        timeout=120,
        message=f"{version} to finish its test run and warm-up",
    )
    version.refresh_from_db()
    assert version.state == "in_review"
    return version


def assert_reads_as_a_validator_expects(page) -> str:
    text = page.inner_text("main")
    leak = RAW.search(text)
    assert leak is None, f"raw data on {page.url}: …{text[max(0, leak.start() - 80):leak.end() + 80]}…"
    return text


def assert_chart(page, css: str, *, series: int) -> None:
    svg = page.locator(f"figure.{css} svg").first
    assert svg.is_visible()
    assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-label")
    assert svg.locator("title").first.text_content()
    assert svg.locator("text.axis-label").count() >= 1 or css == "chart-confusion"
    assert svg.locator("g.legend text").count() == series or css == "chart-confusion"


def test_reviewer_sees_the_classifier_evidence_against_the_champion(live_server, browser_page, worker):  # noqa: F811
    page = browser_page
    alice = factories.make_user("alice", "data_scientist")
    carol = factories.make_user("carol", "validator", first_name="Carol", last_name="Checker")
    oscar = factories.make_user("oscar", "operator")
    model = factories.make_model(alice, name="Tumour screening", reviewer=[carol], operator=[oscar])
    datasets = factories.make_datasets(alice)
    # The champion's own tests are not the subject here: it is walked there by the agents' doors.
    champion = make_champion(factories.make_version(model, alice, datasets=datasets), submitter=alice, operator=oscar)
    suite_services.suite_config_set(
        actor=carol,
        model=model,
        raw_checks=EVERY_KIND_CLASSIFIER,
        reason="Every kind of check, with bars this sample passes.",
    )
    version = through_tests_and_warmup(factories.make_version(model, alice, datasets=datasets), alice)
    Finding.objects.create(
        version=version, kind="finding", severity="medium", raised_by=carol, owner=alice,
        description="Explain the drop in recall on the smallest tumours.", due=datetime.date(2030, 1, 31),
    )

    sign_in(page, live_server.url, "carol", factories.PASSWORD)
    page.goto(live_server.url + version.get_absolute_url())
    text = assert_reads_as_a_validator_expects(page)
    for css in ("chart-roc", "chart-pr", "chart-calibration", "chart-fairness"):
        assert_chart(page, css, series=2)
    assert_chart(page, "chart-confusion", series=2)
    assert f"champion v{champion.number}" in page.inner_text("figure.chart-roc figcaption")
    assert "AUC" in page.inner_text("figure.chart-roc") and "AP " in page.inner_text("figure.chart-pr")
    assert "Accuracy" in text and "at least 80.0 %" in text and " ms" in text and "PSI " in text

    page.click("text=Sign off this version")
    page.wait_for_url("**/sign/")
    summary = page.locator("#evidence-summary")
    assert summary.is_visible()
    text = assert_reads_as_a_validator_expects(page)
    rows = summary.locator("table.checks > tbody > tr:not(.check-detail)")
    assert rows.count() == 8
    first = rows.nth(0).inner_text()
    assert "Accuracy" in first and "%" in first and "at least 80.0 %" in first and "Passed" in first
    latency = summary.locator("table.checks > tbody > tr", has_text="Latency of single-row calls").first.inner_text()
    assert "ms" in latency and "at most 1000.00 ms" in latency
    warmup = summary.locator("dl.warmup-facts").inner_text()
    assert "Agreement with the champion" in warmup and "%" in warmup
    assert "PSI" in warmup and "p95" in warmup and " ms" in warmup
    assert "validation data (the model has no production traffic yet)" in warmup
    finding = summary.locator("table.findings-open").inner_text()
    assert "Medium" in finding and "smallest tumours" in finding and "31 Jan 2030" in finding
    for css in ("chart-roc", "chart-pr", "chart-confusion", "chart-calibration"):
        assert summary.locator(f"figure.{css} svg").count() == 1
    assert "The full version page" in text
    # The signing form is still below the evidence.
    assert page.locator("form.signoff-form").is_visible()


def test_reviewer_sees_the_regressor_evidence(live_server, browser_page, worker):  # noqa: F811
    page = browser_page
    alice = factories.make_user("alice", "data_scientist")
    factories.make_user("carol", "validator", first_name="Carol", last_name="Checker")
    from governance.access.models import User

    carol = User.objects.get(username="carol")
    model = factories.make_model(alice, name="Disease progression", task="regression", reviewer=[carol])
    suite_services.suite_config_set(
        actor=carol,
        model=model,
        raw_checks=EVERY_KIND_REGRESSOR,
        reason="Every kind of check, with bars this sample passes.",
    )
    version = through_tests_and_warmup(regression_version(model, alice, factories.regressor_files()["onnx"]), alice)

    sign_in(page, live_server.url, "carol", factories.PASSWORD)
    page.goto(live_server.url + version.get_absolute_url())
    text = assert_reads_as_a_validator_expects(page)
    for css in ("chart-residuals", "chart-predicted-actual", "chart-fairness"):
        assert_chart(page, css, series=1)
    assert "RMSE" in page.inner_text("figure.chart-residuals figcaption")
    assert "(target units)" in text and "no champion" in text

    # The review queue leads to the signing page.
    page.goto(live_server.url + reverse("lifecycle:review_queue"))
    assert_reads_as_a_validator_expects(page)
    page.locator("table.review-queue tr", has_text="Disease progression").locator("text=Review and sign").click()
    page.wait_for_url("**/sign/")
    summary = page.locator("#evidence-summary")
    text = assert_reads_as_a_validator_expects(page)
    rows = summary.locator("table.checks > tbody > tr:not(.check-detail)")
    assert rows.count() == 8
    rmse = rows.nth(1).inner_text()
    assert "Root mean squared error" in rmse and "(target units)" in rmse and "at most 100 (target units)" in rmse
    assert summary.locator("figure.chart-residuals svg").count() == 1
    assert summary.locator("figure.chart-predicted-actual svg").count() == 1
    assert "No open findings or conditions" in text
