"""The gate in a real browser: the owner proposes a lower bar, the validator reads the diff on
the model page and approves it there with a reason, and the suite in force changes only then."""

from __future__ import annotations

import json
import os

import pytest

from tests import factories
from .test_newcomer import browser_page, sign_in  # noqa: F401 - the fixture
from workflows.testsuites import selectors

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)


def test_owner_proposes_and_validator_approves_in_the_browser(live_server, browser_page):  # noqa: F811
    page = browser_page
    alice = factories.make_user("alice", "data_scientist")
    carol = factories.make_user("carol", "validator")
    model = factories.make_model(alice, reviewer=[carol])
    before = selectors.suite_config_of(model)[0]

    sign_in(page, live_server.url, "alice", factories.PASSWORD)
    page.goto(f"{live_server.url}/models/{model.slug}/test-suite/")
    proposed = [dict(check) for check in before]
    proposed[0]["threshold"] = 0.7
    page.fill("#id_checks", json.dumps(proposed))
    page.fill("#id_reason", "The new applicants are harder to score.")
    page.click("text=Propose this change")
    page.wait_for_url("**/test-suite/proposals/*/")
    _shot(page, "proposal-owner")
    text = page.inner_text("main")
    assert "accuracy at least 0.75 → 0.70" in text and "Waiting for a validator" in text
    assert selectors.suite_config_of(model)[0] == before

    page.click("text=Sign out")
    sign_in(page, live_server.url, "carol", factories.PASSWORD)
    page.goto(f"{live_server.url}/models/{model.slug}/")
    _shot(page, "model-validator")
    panel = page.locator("#test-suite")
    assert "accuracy at least 0.75 → 0.70" in panel.inner_text()
    panel.locator("textarea").fill("Agreed: the drop is explained by the new population.")
    panel.locator("text=Approve and apply").click()
    page.wait_for_url("**/test-suite/proposals/*/")
    _shot(page, "proposal-approved")
    assert "Approved and applied" in page.inner_text("main")
    assert selectors.suite_config_of(model)[0][0]["threshold"] == 0.7
