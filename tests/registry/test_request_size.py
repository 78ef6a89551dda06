"""A request body over the upload limits is refused with 413 before anything reads it."""

import pytest
from django.http.multipartparser import MultiPartParser
from django.test import Client

from governance.registry.middleware import max_request_bytes
from governance.registry.models import Dataset
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def body_never_parsed(monkeypatch):
    """Fails the test if Django starts reading a multipart body (and spooling its files)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the multipart body was read")

    monkeypatch.setattr(MultiPartParser, "parse", refuse)


def test_limit_is_the_larger_upload_limit_plus_a_margin(settings):
    settings.GOVERNANCE_MAX_REQUEST_BYTES = None
    settings.GOVERNANCE_MAX_ARTIFACT_BYTES, settings.GOVERNANCE_MAX_DATASET_BYTES = 200, 500
    assert max_request_bytes() == 500 + 1024 * 1024
    settings.GOVERNANCE_MAX_REQUEST_BYTES = 4096
    assert max_request_bytes() == 4096


def test_api_upload_over_the_limit_is_refused_with_413_before_it_is_read(alice, api_for, settings, body_never_parsed):
    settings.GOVERNANCE_MAX_REQUEST_BYTES = 4096
    upload = factories.upload("big.csv", b"a,b\n" + b"1,2\n" * 2000, "text/csv")
    response = api_for(alice).post("/api/v1/datasets/", {"name": "big", "file": upload, "target": "b"}, format="multipart")
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "too_large" and "over the limit of 4.0 KiB" in body["detail"]
    assert not Dataset.objects.exists()


def test_declared_length_alone_is_enough_to_refuse(alice, api_for, body_never_parsed):
    # A client announcing 10 GiB is answered at once: nothing of the body is read or stored.
    response = api_for(alice).post(
        "/api/v1/datasets/", b"--x--\r\n", content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 1024**3),
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and "10.0 GiB" in response.json()["detail"]


def test_browser_upload_over_the_limit_gets_a_page(alice, settings, body_never_parsed):
    settings.GOVERNANCE_MAX_REQUEST_BYTES = 4096
    client = Client()
    client.force_login(alice)
    upload = factories.upload("big.csv", b"a,b\n" + b"1,2\n" * 2000, "text/csv")
    response = client.post("/datasets/new/", {"name": "big", "file": upload, "target": "b"})
    assert response.status_code == 413
    page = response.content.decode()
    assert "Upload too large" in page and "over the limit of 4.0 KiB" in page
    assert not Dataset.objects.exists()


def test_uploads_within_the_limit_go_through(alice, api_for, settings):
    settings.GOVERNANCE_MAX_REQUEST_BYTES = 64 * 1024
    upload = factories.upload("small.csv", b"a,b\n1,2\n3,4\n", "text/csv")
    response = api_for(alice).post("/api/v1/datasets/", {"name": "s", "file": upload, "target": "b"}, format="multipart")
    assert response.status_code == 201, response.json()
