"""The report page's build on a real Celery worker (in a thread) and a real Redis."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.audit.models import AuditEvent
from tests.testsuites.conftest import _fast_jobs, celery_worker, wait_for  # noqa: F401 - fixtures

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_page_asks_a_worker_for_the_report_and_offers_it_when_built(celery_worker, version, audrey, client):
    client.force_login(audrey)
    url = reverse("reports:version_report", args=[version.model.slug, version.number])

    followed = client.post(url)["Location"]

    wait_for(
        lambda: 'data-status="ready"' in client.get(followed).content.decode(),
        timeout=120,
        message="the worker to build the report",
    )
    page = client.get(followed).content.decode()
    assert "Ready. Generated" in page and "Audrey Tester" in page
    pdf = client.get(reverse("reports:version_report_pdf", args=[version.model.slug, version.number]) + "?" + followed.split("?")[1])
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    # The worker's access drain appends the build's entry (queued in the worker) a moment later.
    generated = wait_for(
        lambda: AuditEvent.objects.filter(action="report.generated").first(),
        timeout=30,
        message="the worker to drain the build's access entry",
    )
    assert AuditEvent.objects.filter(action="report.generated").count() == 1
    assert generated.actor_username == "audrey" and generated.version_number == version.number
