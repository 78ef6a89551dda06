"""A newcomer's first visit, in a real browser (headless Chromium driven by Playwright).

Sign in as a data scientist, register a model, upload a training and a validation CSV, try a
pickle disguised as ONNX (refused next to its field), upload the real ONNX version and find
it, in draft, on the model page and in the list.

``SCREENSHOT_TO=docs/screenshot.png pytest tests/e2e -k screenshot`` also refreshes the
README's screenshot of the seeded portal.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests import factories

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(settings, monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium) so the browser test cannot run.")
    # Playwright's sync API runs an event loop in this thread; the test still reads the
    # database directly, which Django would otherwise refuse from an async context.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            browser.close()


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/")
    assert "/accounts/login/" in page.url  # the portal sends strangers to sign in
    page.fill("#id_login", username)
    page.fill("#id_password", password)
    page.click("form.form button[type=submit]")
    page.wait_for_url("**/models/")


def upload_dataset(page, name: str, content: bytes) -> None:
    page.click("text=Upload a dataset")
    page.wait_for_url("**/datasets/new/**")
    page.fill("#id_name", name)
    page.set_input_files("#id_file", files=[{"name": f"{name}.csv", "mimeType": "text/csv", "buffer": content}])
    page.fill("#id_target", "target")
    page.click("form.form button[type=submit]")
    # Back on the version form (the upload link carries ?next=), where the dataset now appears.
    page.wait_for_url("**/versions/new/")
    assert f"Dataset “{name}” stored" in page.inner_text(".messages")


def choose_dataset(page, field: str, name: str) -> None:
    value = page.locator(f"#id_{field} option", has_text=name).get_attribute("value")
    page.select_option(f"#id_{field}", value)


def test_newcomer_registers_a_model_and_uploads_a_version(live_server, browser_page):
    page = browser_page
    factories.make_user("dana", "data_scientist", first_name="Dana", last_name="Data")
    files = factories.classifier_files()

    sign_in(page, live_server.url, "dana", factories.PASSWORD)
    assert page.inner_text("h1") == "Models"
    assert "There are no models you can see yet" in page.inner_text("main")
    # The page is styled from our own static files.
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor") == "rgb(19, 35, 61)"

    page.click("text=Register a model")
    page.fill("#id_name", "Churn predictor")
    page.select_option("#id_task", "classification")
    page.select_option("#id_risk_tier", "medium")
    page.fill("#id_description", "Which customers will leave next quarter.")
    page.click("form.form button[type=submit]")
    page.wait_for_url("**/models/churn-predictor/")
    assert "No versions yet" in page.inner_text("main")

    page.click("text=Upload a version")
    page.wait_for_url("**/models/churn-predictor/versions/new/")
    upload_dataset(page, "Churn training", files["train_csv"])
    upload_dataset(page, "Churn validation", files["valid_csv"])

    def fill_version_form(artifact_name: str, artifact: bytes) -> None:
        page.set_input_files("#id_artifact", files=[{"name": artifact_name, "mimeType": "application/octet-stream", "buffer": artifact}])
        choose_dataset(page, "training_dataset", "Churn training")
        choose_dataset(page, "validation_dataset", "Churn validation")
        page.fill("#id_code_ref", "https://git.example.com/churn@9c1d2e3")
        page.click("form.form button[type=submit]")

    # A pickle renamed .onnx is refused, and the reason sits next to the artifact field.
    fill_version_form("model.onnx", pickle.dumps({"not": "a model"}))
    assert "ONNX (.onnx) and skops (.skops)" in page.inner_text("#artifact-errors")
    assert "/versions/new/" in page.url

    fill_version_form("churn.onnx", files["onnx"])
    page.wait_for_url("**/models/churn-predictor/versions/1/")
    assert "Version 1 uploaded as a draft" in page.inner_text(".messages")
    assert page.inner_text("#artifact-sha256") == hashlib.sha256(files["onnx"]).hexdigest()
    assert page.inner_text("h1 .badge") == "Draft"
    assert "Churn training" in page.inner_text("table.lineage")

    page.click(".crumbs >> text=Churn predictor")
    row = page.locator("table.versions tbody tr").first
    assert row.locator("td").first.inner_text() == "v1"
    assert "Draft" in row.inner_text()

    page.click(".mainnav >> text=Models")
    row = page.locator("table.models tbody tr", has_text="Churn predictor")
    assert "v1" in row.inner_text() and "Draft" in row.inner_text() and "Medium risk" in row.inner_text()


def test_seeded_demo_model_list_screenshot(live_server, browser_page, tmp_path):
    page = browser_page
    call_command("seed_demo", f"--files-dir={tmp_path / 'demo-files'}", stdout=StringIO())
    sign_in(page, live_server.url, "dana", "demo-pass-2026")
    rows = page.locator("table.models tbody tr")
    assert rows.count() == 3
    assert "Breast cancer screening" in rows.nth(0).inner_text() and "High risk" in rows.nth(0).inner_text()
    # Reload, so the "signed in" notice is gone, in a viewport that fits the list.
    page.set_viewport_size({"width": 1280, "height": 480})
    page.reload()
    shot = tmp_path / "model-list.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    target = os.environ.get("SCREENSHOT_TO")
    if target:
        shutil.copyfile(shot, target)
