"""In the browser: from the model page to its traces, and from a trace id to the version that answered."""

from __future__ import annotations

import json
import os

import pytest
from rest_framework.test import APIClient

from governance.access.services import token_create
from tests import factories
from tests.e2e.test_newcomer import browser_page, sign_in  # noqa: F401 - the fixture
from workflows.gateway import services

from .conftest import rows_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_viewer_finds_which_version_answered_a_trace(live_server, browser_page, two_versions, credit_model, victor, tmp_path):  # noqa: F811
    first, second = two_versions
    _, token = token_create(actor=victor, user=victor, label="checkout")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post(
        f"/api/v1/models/{credit_model.slug}/predict", data=json.dumps({"inputs": rows_of(first, 3)}),
        content_type="application/json",
    )
    trace_id = response.json()["trace_id"]
    services.shadow_score(trace_id=trace_id, version_id=second.pk)  # as the worker would

    page = browser_page
    sign_in(page, live_server.url, "victor", factories.PASSWORD)
    page.goto(live_server.url + credit_model.get_absolute_url())
    assert "1 answered request in the last 24 hours" in page.inner_text("#production-scoring")
    page.click("#production-scoring >> text=Traces: which version answered what")
    page.wait_for_url(f"**/models/{credit_model.slug}/traces/")
    assert trace_id in page.inner_text("table.traces")
    screenshots = os.environ.get("GATEWAY_SCREENSHOTS")
    if screenshots:
        page.screenshot(path=f"{screenshots}/model_traces.png", full_page=True)
    page.fill("#id_trace", trace_id)
    page.click("text=Open the trace")
    page.wait_for_url(f"**/traces/{trace_id}/")
    text = page.inner_text("main") if page.query_selector("main") else page.inner_text("body")
    assert f"version {first.number}" in text and first.artifact_sha256 in text
    assert "helper-reviewer" in text and f"Shadow v{second.number}" in text
    if screenshots:
        page.screenshot(path=f"{screenshots}/trace.png", full_page=True)

    # The live comparison of the champion and its challenger on the same request.
    page.goto(live_server.url + credit_model.get_absolute_url())
    page.click("#production-scoring >> text=Live comparison")
    page.wait_for_url(f"**/models/{credit_model.slug}/comparison/")
    figures = page.inner_text("table.comparison")
    assert f"Champion (version {first.number})" in figures and f"Version {second.number}" in figures
    assert page.locator("svg.chart").count() == 2
    page.select_option("#id_window", "7d")
    page.click("text=Compare")
    page.wait_for_url(f"**/models/{credit_model.slug}/comparison/?window=7d")
    assert "the last 7 days" in page.inner_text("h1 + p")
    if screenshots:
        page.screenshot(path=f"{screenshots}/comparison.png", full_page=True)
