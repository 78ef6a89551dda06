"""The progress endpoint, the suite API and the suite editor page: who may see and change what."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.urls import NoReverseMatch, reverse

from workflows.testsuites.models import TestRun, TestSuiteConfig

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
    assert shown["customised"] is False and shown["can_edit"] is False
    assert shown["checks"][0]["metric"] == "accuracy"
    assert api_for(eve).get(url).status_code == 404
    assert api_for(eve).put(url, {"checks": [{"kind": "schema"}]}, format="json").status_code == 404

    refused = api_for(bob).put(url, {"checks": [{"kind": "schema"}]}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"

    bad = api_for(carol).put(url, {"checks": [{"kind": "metric", "metric": "accuracy"}]}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_checks"
    assert "'threshold' is required" in bad.json()["checks"][0]
    assert not TestSuiteConfig.objects.exists()

    saved = api_for(carol).put(url, {"checks": [{"kind": "metric", "metric": "accuracy", "threshold": 0.9}]}, format="json")
    assert saved.status_code == 200
    assert saved.json()["checks"] == [{"kind": "metric", "metric": "accuracy", "threshold": 0.9, "comparison": ">="}]
    config = TestSuiteConfig.objects.get(model=credit_model)
    assert config.updated_by == carol
    assert LogEntry.objects.get_for_object(config).count() == 1


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
def test_suite_editor_page_saves_for_a_reviewer_and_refuses_others(client, credit_model, carol, bob, eve):
    url = reverse("testsuites:suite_edit", kwargs={"slug": credit_model.slug})
    assert login(client, eve).get(url).status_code == 404
    assert login(client, bob).get(url).status_code == 403

    page = login(client, carol).get(url)
    assert page.status_code == 200 and b"defaults of its risk tier" in page.content
    bad = client.post(url, {"checks": "[{\"kind\": \"magic\"}]"})
    assert bad.status_code == 400 and b"unknown kind" in bad.content
    broken = client.post(url, {"checks": "[{"})
    assert broken.status_code == 400 and b"not valid JSON" in broken.content
    saved = client.post(url, {"checks": "[{\"kind\": \"schema\"}]"})
    assert saved.status_code == 302
    assert TestSuiteConfig.objects.get(model=credit_model).checks == [{"kind": "schema"}]


def test_admin_form_validates_checks_for_the_models_task(alice):
    from workflows.testsuites.admin import TestSuiteConfigForm

    model = factories.make_model(alice, name="Prices", task="regression")
    form = TestSuiteConfigForm(data={"model": model.pk, "checks": '[{"kind": "metric", "metric": "accuracy", "threshold": 1}]'})
    assert not form.is_valid() and "metric must be one of rmse, mae, r2" in form.errors["checks"][0]
    good = TestSuiteConfigForm(data={"model": model.pk, "checks": '[{"kind": "metric", "metric": "r2", "threshold": 0.3}]'})
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
    response = client.post(
        "/admin/testsuites/testsuiteconfig/add/", {"model": credit_model.pk, "checks": json.dumps(checks)}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    config = TestSuiteConfig.objects.get(model=credit_model)
    assert config.updated_by == admin_user and config.checks[0]["threshold"] == 0.8
    assert LogEntry.objects.get_for_object(config).latest("timestamp").actor == admin_user

    # Staff holding Django's model permissions but not the admin role are refused.
    clerk = factories.make_user("clerk", "validator", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(content_type__app_label="testsuites"))
    login(client, clerk)
    url = f"/admin/testsuites/testsuiteconfig/{config.pk}/change/"
    assert client.post(url, {"checks": json.dumps([{"kind": "schema"}])}).status_code == 403
    config.refresh_from_db()
    assert config.checks[0]["kind"] == "metric"
