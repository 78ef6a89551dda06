"""The public API v1 checked against its contract, section by section.

Every test calls the endpoints the way an outside client would (DRF's APIClient, Bearer tokens or
a browser session) and checks what the contract writes: paths, methods, status codes, field names,
the error body, pagination and the lifecycle table. Scoring, traceability, reports and the audit
endpoints are checked elsewhere (not built here, or owned by the audit app).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from governance.access.models import User
from governance.access.services import service_account_get, token_create
from governance.registry.models import MLModel
from tests import factories
from tests.lifecycle.conftest import PATHS, walk
from workflows.lifecycle.models import (
    DEFAULT_MEANING,
    ApprovalPolicy,
    SignOff,
    TransitionRecord,
)

pytestmark = pytest.mark.django_db

PROJECT = Path(__file__).resolve().parent.parent
ERROR_KEYS = {"detail", "code"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Sign-off rate limits and used one-time codes live in the cache.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def agent(db):
    return service_account_get("test-runner")


@pytest.fixture
def users(alice, carol, oscar, agent):
    return {"alice": alice, "carol": carol, "oscar": oscar, "agent": agent}


@pytest.fixture
def version_in(credit_model, alice, datasets, users):
    def make(state: str, model=None):
        version = factories.make_version(model or credit_model, alice, datasets=datasets)
        return walk(version, PATHS[state], users=users)

    return make


def vurl(version, tail: str = "") -> str:
    return f"/api/v1/models/{version.model.slug}/versions/{version.number}/{tail}"


def assert_error(response, status: int, *fields: str):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert ERROR_KEYS <= set(body), body
    assert body["detail"] and body["code"]
    for field in fields:
        assert field in body, body


def assert_page(body: dict):
    assert set(body) == {"count", "next", "previous", "results"}, body


def assert_utc(value: str):
    assert ISO_UTC.match(value), value
    assert datetime.fromisoformat(value).utcoffset().total_seconds() == 0


# --- Conventions -----------------------------------------------------------------------------


def test_no_or_bad_credentials_are_401_with_the_error_body(credit_model):
    anonymous = APIClient()
    assert_error(anonymous.get("/api/v1/models/"), 401)
    assert_error(anonymous.post("/api/v1/models/", {"name": "x", "risk_tier": "low", "task": "regression"}), 401)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_error(bad.get("/api/v1/models/"), 401)
    assert_error(bad.get(f"/api/v1/models/{credit_model.slug}/"), 401)


def test_deactivated_users_token_is_refused_at_once(alice, admin_user, api_for):
    _, raw = token_create(actor=alice, user=alice, label="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/models/").status_code == 200
    response = api_for(admin_user).post(f"/api/v1/users/{alice.username}/deactivate/")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert_error(client.get("/api/v1/models/"), 401)


def test_session_authenticates_and_post_needs_csrf(alice):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="alice", password=factories.PASSWORD)
    assert client.get("/api/v1/models/").status_code == 200
    payload = {"name": "Session model", "risk_tier": "low", "task": "regression"}
    refused = client.post("/api/v1/models/", payload, format="json")
    assert_error(refused, 403)
    assert not MLModel.objects.filter(name="Session model").exists()
    # The browser holds the CSRF cookie a page set; the script sends it back in the header.
    csrf = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf
    accepted = client.post("/api/v1/models/", payload, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["slug"] == "session-model"


def test_create_api_token_prints_only_the_token(alice):
    out = io.StringIO()
    call_command("create_api_token", "alice", "--label", "CI pipeline", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].strip() == lines[0] and lines[0]
    assert out.getvalue() == lines[0] + "\n"
    token = alice.api_tokens.get()
    assert token.label == "CI pipeline"
    # Stored hashed: the secret itself is in no column of the row.
    assert lines[0] not in {str(value) for value in token.__dict__.values()}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {lines[0]}")
    assert client.get("/api/v1/models/").status_code == 200


# --- Users and roles -------------------------------------------------------------------------


def test_users_create_get_and_deactivate(admin_user, alice, api_for):
    admin = api_for(admin_user)
    response = admin.post(
        "/api/v1/users/",
        {
            "username": "vera",
            "email": "vera@example.com",
            "first_name": "Vera",
            "last_name": "Lidator",
            "password": "a-long-unusual-passphrase-42",
            "roles": ["validator"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    detail = admin.get("/api/v1/users/vera/")
    assert detail.status_code == 200
    body = detail.json()
    assert {"username", "email", "roles", "is_active", "is_service_account"} <= set(body)
    assert body["username"] == "vera" and body["email"] == "vera@example.com"
    assert body["roles"] == ["validator"] and body["is_active"] is True and body["is_service_account"] is False
    assert APIClient().login(username="vera", password="a-long-unusual-passphrase-42")

    service = admin.post(
        "/api/v1/users/",
        {"username": "drift-bot", "email": "", "roles": ["operator"], "is_service_account": True},
        format="json",
    )
    assert service.status_code == 201, service.content
    bot = User.objects.get(username="drift-bot")
    assert bot.is_service_account and not bot.has_usable_password()
    assert admin.get("/api/v1/users/drift-bot/").json()["is_service_account"] is True

    assert_error(admin.post("/api/v1/users/", {"username": "", "email": "x", "roles": ["nope"]}, format="json"), 400, "roles")
    assert_error(api_for(alice).post("/api/v1/users/", {"username": "z", "email": "z@example.com", "roles": []}, format="json"), 403)
    assert_error(api_for(alice).post("/api/v1/users/vera/deactivate/"), 403)
    assert User.objects.get(username="vera").is_active

    deactivated = admin.post("/api/v1/users/vera/deactivate/")
    assert deactivated.status_code == 200
    assert admin.get("/api/v1/users/vera/").json()["is_active"] is False
    assert_error(admin.get("/api/v1/users/nobody/"), 404)


def test_superusers_hold_the_admin_role(admin_user, api_for):
    superuser = User.objects.create_superuser("root", "root@example.com", "another-long-passphrase-7")
    body = api_for(admin_user).get("/api/v1/users/root/").json()
    assert "admin" in body["roles"]
    assert superuser.has_role("admin")


def test_createsuperuser_noinput_with_environment(monkeypatch, api_for):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "first-admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "first@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "first-admin-long-passphrase-9")
    call_command("createsuperuser", interactive=False, stdout=io.StringIO())
    first = User.objects.get(username="first-admin")
    assert first.is_superuser and first.check_password("first-admin-long-passphrase-9")
    body = api_for(first).get("/api/v1/users/first-admin/").json()
    assert "admin" in body["roles"]
    # The first admin can do what admins do.
    created = api_for(first).post(
        "/api/v1/users/", {"username": "newbie", "email": "n@example.com", "roles": ["data_scientist"]}, format="json"
    )
    assert created.status_code == 201, created.content


# --- Models ----------------------------------------------------------------------------------


def test_models_create_list_detail(alice, eve, api_for, credit_model):
    client = api_for(alice)
    response = client.post(
        "/api/v1/models/",
        {"name": "Churn", "description": "Who leaves", "risk_tier": "high", "task": "classification"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "churn"
    detail = client.get("/api/v1/models/churn/").json()
    assert {"slug", "name", "risk_tier", "task", "owners", "champion"} <= set(detail)
    assert detail["owners"] == ["alice"] and detail["champion"] is None and detail["risk_tier"] == "high"

    explicit = client.post(
        "/api/v1/models/", {"name": "Fraud", "slug": "fraud-v2", "risk_tier": "critical", "task": "regression"}, format="json"
    )
    assert explicit.status_code == 201 and explicit.json()["slug"] == "fraud-v2"
    assert_error(client.post("/api/v1/models/", {"name": "Bad", "risk_tier": "extreme", "task": "ranking"}, format="json"), 400, "risk_tier")

    listing = client.get("/api/v1/models/")
    assert listing.status_code == 200
    assert_page(listing.json())
    assert {m["slug"] for m in listing.json()["results"]} == {"churn", "fraud-v2", credit_model.slug}
    filtered = client.get("/api/v1/models/?risk_tier=high").json()
    assert [m["slug"] for m in filtered["results"]] == ["churn"]
    searched = client.get("/api/v1/models/?search=frau").json()
    assert [m["slug"] for m in searched["results"]] == ["fraud-v2"]

    # The outsider sees none of alice's models: not in the list, 404 on the detail.
    outsider = api_for(eve)
    assert outsider.get("/api/v1/models/").json()["count"] == 0
    assert_error(outsider.get("/api/v1/models/churn/"), 404)
    assert_error(outsider.get("/api/v1/models/no-such-model/"), 404)


def test_model_detail_champion_is_the_number(version_in, alice, api_for):
    champion = version_in("champion")
    body = api_for(alice).get(f"/api/v1/models/{champion.model.slug}/").json()
    assert body["champion"] == champion.number


def test_grants_create_and_delete(credit_model, alice, bob, eve, admin_user, api_for):
    url = f"/api/v1/models/{credit_model.slug}/grants/"
    response = api_for(alice).post(url, {"username": "eve", "role": "viewer"}, format="json")
    assert response.status_code == 201, response.content
    grant_id = response.json()["id"]
    assert api_for(eve).get(f"/api/v1/models/{credit_model.slug}/").status_code == 200

    group = api_for(admin_user).post(url, {"group": "auditor", "role": "viewer"}, format="json")
    assert group.status_code == 201, group.content

    assert_error(api_for(bob).post(url, {"username": "eve", "role": "owner"}, format="json"), 403)
    assert_error(api_for(alice).post(url, {"username": "eve", "role": "emperor"}, format="json"), 400, "role")
    assert_error(api_for(bob).delete(f"{url}{grant_id}/"), 403)

    # Owners give owner, contributor and viewer grants; validators reviewer; admins any.
    for role in ("reviewer", "operator"):
        assert_error(api_for(alice).post(url, {"username": "bob", "role": role}, format="json"), 403)
    carol = User.objects.get(username="carol")
    assert api_for(carol).post(url, {"username": "bob", "role": "reviewer"}, format="json").status_code == 201
    assert_error(api_for(carol).post(url, {"username": "bob", "role": "contributor"}, format="json"), 403)
    assert api_for(admin_user).post(url, {"username": "bob", "role": "operator"}, format="json").status_code == 201

    assert api_for(alice).delete(f"{url}{grant_id}/").status_code == 204
    assert_error(api_for(eve).get(f"/api/v1/models/{credit_model.slug}/"), 404)
    assert_error(api_for(eve).post(url, {"username": "eve", "role": "owner"}, format="json"), 404)
    assert_error(api_for(alice).delete(f"{url}{grant_id}/"), 404)


def test_risk_tier_is_proposed_until_a_validator_confirms_it(alice, carol, bob, api_for):
    created = api_for(alice).post(
        "/api/v1/models/", {"name": "Churn", "risk_tier": "medium", "task": "classification"}, format="json"
    ).json()
    assert created["risk_tier_status"] == "proposed"
    url = f"/api/v1/models/{created['slug']}/risk-tier/"
    assert_error(api_for(alice).post(url, {"risk_tier": "low", "reason": "mine"}, format="json"), 403)
    api_for(alice).post(f"/api/v1/models/{created['slug']}/grants/", {"username": "bob", "role": "viewer"}, format="json")
    assert_error(api_for(bob).post(url, {"risk_tier": "low", "reason": "x"}, format="json"), 403)
    assert_error(api_for(carol).post(url, {"risk_tier": "low", "reason": "x"}, format="json"), 404)  # cannot see it
    admin = factories.risk_admin()
    api_for(admin).post(f"/api/v1/models/{created['slug']}/grants/", {"username": "carol", "role": "reviewer"}, format="json")
    assert_error(api_for(carol).post(url, {"risk_tier": "low", "reason": ""}, format="json"), 400, "reason")
    body = api_for(carol).post(url, {"risk_tier": "low", "reason": "Internal use only."}, format="json")
    assert body.status_code == 200
    assert (body.json()["risk_tier"], body.json()["risk_tier_status"]) == ("low", "confirmed")


# --- Datasets --------------------------------------------------------------------------------


def test_dataset_upload(alice, api_for):
    import hashlib

    files = factories.classifier_files()
    response = api_for(alice).post(
        "/api/v1/datasets/",
        {"name": "train", "file": factories.upload("train.csv", files["train_csv"], "text/csv"), "target": files["target"]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "name", "sha256", "rows", "columns"} <= set(body)
    assert body["sha256"] == hashlib.sha256(files["train_csv"]).hexdigest()
    assert body["rows"] == len(files["train_csv"].decode().strip().splitlines()) - 1
    assert all(set(column) >= {"name", "type"} for column in body["columns"])
    assert_error(api_for(alice).post("/api/v1/datasets/", {"name": "nofile"}, format="multipart"), 400, "file")


def test_upload_too_large_is_413(credit_model, alice, datasets, api_for, settings):
    settings.GOVERNANCE_MAX_DATASET_BYTES = 1024
    settings.GOVERNANCE_MAX_ARTIFACT_BYTES = 1024
    files = factories.classifier_files()
    response = api_for(alice).post(
        "/api/v1/datasets/",
        {"name": "train", "file": factories.upload("train.csv", files["train_csv"], "text/csv")},
        format="multipart",
    )
    assert_error(response, 413)
    settings.GOVERNANCE_MAX_ARTIFACT_BYTES = 100
    training, validation = datasets
    response = api_for(alice).post(
        f"/api/v1/models/{credit_model.slug}/versions/",
        {"artifact": factories.upload("m.onnx", files["onnx"]), "training_dataset": training.pk, "validation_dataset": validation.pk},
        format="multipart",
    )
    assert_error(response, 413)
    assert not credit_model.versions.exists()


# --- Model versions --------------------------------------------------------------------------


def test_version_create_response(credit_model, alice, datasets, api_for):
    training, validation = datasets
    files = factories.classifier_files()
    response = api_for(alice).post(
        f"/api/v1/models/{credit_model.slug}/versions/",
        {
            "artifact": factories.upload("model.onnx", files["onnx"]),
            "training_dataset": training.pk,
            "validation_dataset": validation.pk,
            "code_ref": "https://git.example.com/risk/credit@3f2a1b9",
            "annotation": "first try",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {"number", "state", "artifact_sha256", "format", "input_schema"} <= set(body)
    assert body["number"] == 1 and body["state"] == "draft" and body["format"] == "onnx"
    expected = [c["name"] for c in training.columns if c["name"] != training.target]
    assert [entry["name"] for entry in body["input_schema"]] == expected
    assert all(set(entry) >= {"name", "type"} for entry in body["input_schema"])


@pytest.mark.parametrize("name,content", [("model.pkl", b"\x80\x04K\x01."), ("model.joblib", b"\x80\x04K\x01.")])
def test_version_wrong_format_is_415_and_nothing_stored(credit_model, alice, datasets, api_for, settings, name, content):
    training, validation = datasets
    response = api_for(alice).post(
        f"/api/v1/models/{credit_model.slug}/versions/",
        {"artifact": factories.upload(name, content), "training_dataset": training.pk, "validation_dataset": validation.pk},
        format="multipart",
    )
    assert_error(response, 415)
    assert "onnx" in response.json()["detail"].lower() and "skops" in response.json()["detail"].lower()
    assert not credit_model.versions.exists()
    artifacts = Path(settings.MEDIA_ROOT) / "artifacts"
    assert not artifacts.exists() or not any(p.is_file() for p in artifacts.rglob("*"))


def test_version_create_refusals(credit_model, eve, carol, datasets, api_for):
    training, validation = datasets
    files = factories.classifier_files()

    def post(user):
        return api_for(user).post(
            f"/api/v1/models/{credit_model.slug}/versions/",
            {"artifact": factories.upload("m.onnx", files["onnx"]), "training_dataset": training.pk, "validation_dataset": validation.pk},
            format="multipart",
        )

    assert_error(post(eve), 404)
    assert_error(post(carol), 403)


def test_version_detail_fields(version, alice, eve, api_for):
    response = api_for(alice).get(vurl(version))
    assert response.status_code == 200
    body = response.json()
    for field in (
        "number", "state", "available_transitions", "submitted_by", "artifact_sha256", "training_dataset",
        "validation_dataset", "test_runs", "warmup", "signoffs", "required_signoffs",
    ):
        assert field in body, field
    assert body["state"] == "draft" and "submit" in body["available_transitions"]
    assert body["required_signoffs"] == 1
    assert_error(api_for(eve).get(vurl(version)), 404)
    assert_error(api_for(alice).get(f"/api/v1/models/{version.model.slug}/versions/99/"), 404)


def test_version_list_is_paginated(version, alice, eve, api_for):
    body = api_for(alice).get(f"/api/v1/models/{version.model.slug}/versions/").json()
    assert_page(body)
    assert [v["number"] for v in body["results"]] == [version.number]


def test_annotations_and_history(version, alice, bob, eve, api_for):
    assert api_for(bob).post(vurl(version, "transitions/"), {"name": "submit"}, format="json").status_code == 200
    response = api_for(alice).post(vurl(version, "annotations/"), {"text": "Looks fine."}, format="json")
    assert response.status_code == 201
    assert_error(api_for(alice).post(vurl(version, "annotations/"), {"text": ""}, format="json"), 400)
    assert_error(api_for(eve).post(vurl(version, "annotations/"), {"text": "hi"}, format="json"), 404)

    history = api_for(alice).get(vurl(version, "history/"))
    assert history.status_code == 200
    entries = history.json()
    assert isinstance(entries, list)
    for entry in entries:
        assert {"kind", "from_state", "to_state", "actor", "actor_kind", "annotation", "at"} <= set(entry)
        assert entry["kind"] in {"transition", "annotation", "signoff", "test_run", "warmup"}
        assert entry["actor_kind"] in {"human", "agent"}
        assert_utc(entry["at"])
    kinds = [(e["kind"], e["to_state"]) for e in entries]
    assert kinds.index(("transition", "testing")) < kinds.index(("annotation", None))
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    submit = next(e for e in entries if e["kind"] == "transition")
    assert submit["from_state"] == "draft" and submit["actor"] == "bob" and submit["actor_kind"] == "human"
    assert_error(api_for(eve).get(vurl(version, "history/")), 404)


def test_times_are_iso_utc(version, alice, api_for, datasets):
    body = api_for(alice).get(vurl(version)).json()
    assert_utc(body["created_at"])
    assert_utc(api_for(alice).get(f"/api/v1/datasets/{datasets[0].pk}/").json()["created_at"])


# --- Lifecycle -------------------------------------------------------------------------------


def transition(client, version, name, annotation=None):
    payload = {"name": name}
    if annotation is not None:
        payload["annotation"] = annotation
    return client.post(vurl(version, "transitions/"), payload, format="json")


def test_submit_by_owner_or_contributor_annotation_optional(version_in, alice, bob, carol, oscar, eve, api_for):
    first = version_in("draft")
    assert_error(transition(api_for(carol), first, "submit"), 403)
    assert_error(transition(api_for(oscar), first, "submit"), 403)
    assert_error(transition(api_for(eve), first, "submit"), 404)
    response = transition(api_for(alice), first, "submit")
    assert response.status_code == 200 and response.json()["state"] == "testing"
    second = version_in("draft")
    assert transition(api_for(bob), second, "submit", "ready").json()["state"] == "testing"
    assert_error(transition(api_for(alice), second, "submit"), 409)
    assert_error(transition(api_for(alice), second, "no_such_transition"), 400)


def test_workers_transitions_are_not_for_people(version_in, alice, carol, api_for):
    testing = version_in("testing")
    for name in ("pass_tests", "fail_tests"):
        assert_error(transition(api_for(carol), testing, name, "x"), 403)
    in_review = version_in("in_review")
    assert_error(transition(api_for(carol), in_review, "approve", "x"), 403)


@pytest.mark.parametrize("state", ["tests_failed", "warmup_failed"])
def test_rerun_tests_validator_with_reviewer_grant_annotation_required(version_in, state, alice, carol, eve, api_for, credit_model):
    version = version_in(state)
    assert_error(transition(api_for(carol), version, "rerun_tests"), 400, "annotation")
    assert_error(transition(api_for(alice), version, "rerun_tests", "again"), 403)
    # A validator without the reviewer grant may see the model but may not rerun.
    factories.grant(model=credit_model, user=eve, role="viewer")
    eve.groups.add(*User.objects.get(username="carol").groups.all())
    assert_error(transition(api_for(eve), version, "rerun_tests", "again"), 403)
    response = transition(api_for(carol), version, "rerun_tests", "flaky runner")
    assert response.status_code == 200 and response.json()["state"] == "testing"


@pytest.mark.parametrize("state", ["draft", "testing", "tests_failed", "warming_up", "warmup_failed", "in_review"])
def test_withdraw_by_owner_before_approved(version_in, state, alice, bob, api_for):
    version = version_in(state)
    assert_error(transition(api_for(alice), version, "withdraw"), 400, "annotation")
    assert_error(transition(api_for(bob), version, "withdraw", "no"), 403)
    response = transition(api_for(alice), version, "withdraw", "superseded")
    assert response.status_code == 200 and response.json()["state"] == "withdrawn"


@pytest.mark.parametrize("state", ["approved", "rejected", "champion", "retired"])
def test_withdraw_after_approved_is_409(version_in, state, alice, api_for):
    assert_error(transition(api_for(alice), version_in(state), "withdraw", "late"), 409)


def test_promotions_by_operator_annotation_required(version_in, alice, oscar, api_for):
    factories.shadow_minimums()  # the guardrails have tests of their own (tests/lifecycle/test_promotion.py)
    first = version_in("approved")
    assert_error(transition(api_for(alice), first, "promote_to_challenger", "x"), 403)
    assert_error(transition(api_for(oscar), first, "promote_to_challenger"), 400, "annotation")
    assert_error(transition(api_for(oscar), first, "promote_to_champion", "x"), 409)
    assert transition(api_for(oscar), first, "promote_to_challenger", "shadow it").json()["state"] == "challenger"
    assert transition(api_for(oscar), first, "promote_to_champion", "go").json()["state"] == "champion"

    second = version_in("challenger")
    assert transition(api_for(oscar), second, "promote_to_champion", "better").json()["state"] == "champion"
    first.refresh_from_db()
    assert first.state == "retired"

    assert_error(transition(api_for(oscar), first, "rollback"), 400, "annotation")
    assert_error(transition(api_for(alice), first, "rollback", "x"), 403)
    assert transition(api_for(oscar), first, "rollback", "regression in v2").json()["state"] == "champion"
    second.refresh_from_db()
    assert second.state == "retired"


def test_operator_needs_role_and_grant(version_in, credit_model, api_for, bob):
    approved = version_in("approved")
    # An operator by role without the grant, and a grant holder without the role, are refused.
    ops_no_grant = factories.make_user("opal", "operator")
    factories.grant(model=credit_model, user=ops_no_grant, role="viewer")
    assert_error(transition(api_for(ops_no_grant), approved, "promote_to_challenger", "x"), 403)
    factories.grant(model=credit_model, user=bob, role="operator")
    assert_error(transition(api_for(bob), approved, "promote_to_challenger", "x"), 403)


@pytest.mark.parametrize("state", ["approved", "challenger", "champion"])
def test_retire_by_operator_or_owner(version_in, state, alice, oscar, bob, api_for):
    """retire: approved -> retired by an operator or an owner; challenger, champion -> retired
    by an operator only."""
    version = version_in(state)
    assert_error(transition(api_for(bob), version, "retire", "x"), 403)
    who = alice if state == "approved" else oscar
    if state != "approved":
        assert_error(transition(api_for(alice), version, "retire", "x"), 403)
    assert_error(transition(api_for(who), version, "retire"), 400, "annotation")
    assert transition(api_for(who), version, "retire", "end of life").json()["state"] == "retired"


def test_transition_records_annotation_and_actor(version_in, alice, api_for):
    version = version_in("draft")
    transition(api_for(alice), version, "submit", "please test")
    record = TransitionRecord.objects.filter(version=version).latest("at")
    assert record.name == "submit" and record.annotation == "please test" and record.actor == alice


# --- Sign-offs -------------------------------------------------------------------------------


def sign(client, version, decision="approve", password=factories.PASSWORD, annotation="Reviewed the tests.", **extra):
    payload = {"decision": decision, "password": password, "annotation": annotation, **extra}
    return client.post(vurl(version, "signoffs/"), payload, format="json")


def test_signoff_approve_with_default_meaning_and_policy_recorded(version_in, carol, api_for):
    version = version_in("in_review")
    response = sign(api_for(carol), version)
    assert response.status_code == 201, response.content
    signoff = SignOff.objects.get(version=version)
    assert signoff.meaning == DEFAULT_MEANING["approve"]
    assert response.json()["meaning"] == DEFAULT_MEANING["approve"]
    version.refresh_from_db()
    assert version.state == "approved"
    record = TransitionRecord.objects.get(version=version, name="approve")
    assert record.policy["required_approvals"] == 1 and record.policy["risk_tier"] == "medium"
    assert signoff.policy["required_approvals"] == 1
    assert response.json()["policy"]["required_approvals"] == 1


def test_signoff_reject_meaning_default_and_state(version_in, carol, api_for):
    version = version_in("in_review")
    response = sign(api_for(carol), version, decision="reject", annotation="Fails the fairness check.")
    assert response.status_code == 201
    assert SignOff.objects.get(version=version).meaning == DEFAULT_MEANING["reject"]
    version.refresh_from_db()
    assert version.state == "rejected"


def test_signoff_custom_meaning_kept(version_in, carol, api_for):
    version = version_in("in_review")
    assert sign(api_for(carol), version, meaning="I checked the calibration.").status_code == 201
    assert SignOff.objects.get(version=version).meaning == "I checked the calibration."


def test_signoff_annotation_required(version_in, carol, api_for):
    version = version_in("in_review")
    assert_error(sign(api_for(carol), version, annotation=""), 400, "annotation")
    assert not SignOff.objects.filter(version=version).exists()


def test_signoff_refusals_are_403_and_record_nothing(version_in, credit_model, alice, bob, carol, admin_user, api_for):
    version = version_in("in_review")
    # The submitter (bob submits a new version), an owner, a service account, a non-reviewer,
    # an admin who owns the model, and a wrong password.
    bob_version = factories.make_version(credit_model, bob, datasets=None)
    factories.grant(model=credit_model, user=bob, role="reviewer")
    bob.groups.add(*User.objects.get(username="carol").groups.all())
    from workflows.lifecycle import services as lifecycle

    bob_version = lifecycle.version_transition(version=bob_version, name="submit", actor=bob)
    bob_version = walk(bob_version, ["pass_tests", "pass_warmup"], users={"agent": service_account_get("test-runner")} | {"alice": alice, "carol": carol, "oscar": None})
    assert_error(sign(api_for(bob), bob_version), 403)

    assert_error(sign(api_for(alice), version), 403)

    bot = service_account_get("drift-monitor")
    factories.grant(model=credit_model, user=bot, role="reviewer")
    bot.groups.add(*User.objects.get(username="carol").groups.all())
    assert_error(sign(api_for(bot), version, password=""), 403)

    reader = factories.make_user("rita", "data_scientist")
    factories.grant(model=credit_model, user=reader, role="viewer")
    assert_error(sign(api_for(reader), version), 403)
    # The validator role alone is not enough: the reviewer grant is needed too.
    validator = factories.make_user("victor", "validator")
    factories.grant(model=credit_model, user=validator, role="viewer")
    assert_error(sign(api_for(validator), version), 403)

    factories.grant(model=credit_model, user=admin_user, role="owner")
    assert_error(sign(api_for(admin_user), version), 403)

    assert_error(sign(api_for(carol), version, password="wrong password"), 403)

    outsider = factories.make_user("oliver", "validator")
    assert_error(sign(api_for(outsider), version), 404)

    assert not SignOff.objects.filter(version__in=[version, bob_version]).exists()
    version.refresh_from_db()
    assert version.state == "in_review"


def test_signoff_409_when_not_in_review_or_already_signed(version_in, credit_model, carol, api_for):
    testing = version_in("testing")
    assert_error(sign(api_for(carol), testing), 409)
    MLModel.objects.filter(pk=credit_model.pk).update(risk_tier="high")
    version = version_in("in_review")
    assert sign(api_for(carol), version).status_code == 201
    assert_error(sign(api_for(carol), version), 409)
    assert SignOff.objects.filter(version=version).count() == 1


@pytest.mark.parametrize("tier,required", [("low", 1), ("medium", 1), ("high", 2), ("critical", 3)])
def test_required_approvals_per_tier(tier, required, alice, carol, dave, bob, users, datasets, api_for):
    extra = [factories.make_user(name, "validator") for name in ("frank", "gina")]
    model = factories.make_model(
        alice, name=f"Tier {tier}", risk_tier=tier, reviewer=[carol, dave, *extra], operator=[users["oscar"]]
    )
    version = walk(factories.make_version(model, alice, datasets=datasets), PATHS["in_review"], users=users)
    assert api_for(alice).get(vurl(version)).json()["required_signoffs"] == required
    signers = [carol, dave, *extra]
    for index in range(required):
        response = sign(api_for(signers[index]), version)
        assert response.status_code == 201, response.content
        version.refresh_from_db()
        assert version.state == ("approved" if index == required - 1 else "in_review")
    record = TransitionRecord.objects.get(version=version, name="approve")
    assert record.policy["required_approvals"] == required and record.policy["risk_tier"] == tier


def test_changed_policy_is_recorded_with_the_decision(version_in, carol, dave, api_for):
    ApprovalPolicy.objects.filter(risk_tier="medium").update(required_approvals=2)
    version = version_in("in_review")
    assert api_for(carol).get(vurl(version)).json()["required_signoffs"] == 2
    sign(api_for(carol), version)
    version.refresh_from_db()
    assert version.state == "in_review"
    sign(api_for(dave), version)
    version.refresh_from_db()
    assert version.state == "approved"
    signoffs = SignOff.objects.filter(version=version)
    assert [s.policy["required_approvals"] for s in signoffs] == [2, 2]
    assert TransitionRecord.objects.get(version=version, name="approve").policy["required_approvals"] == 2


# --- Operating the portal --------------------------------------------------------------------


def _settings_in_subprocess(env: dict[str, str]) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "db = settings.DATABASES['default'];"
        "print(json.dumps({'email': settings.EMAIL_BACKEND, 'host': settings.EMAIL_HOST, 'port': settings.EMAIL_PORT,"
        "'user': settings.EMAIL_HOST_USER, 'tls': settings.EMAIL_USE_TLS, 'from': settings.DEFAULT_FROM_EMAIL,"
        "'engine': db['ENGINE'], 'name': str(db['NAME']), 'media': str(settings.MEDIA_ROOT), 'debug': settings.DEBUG,"
        "'broker': settings.CELERY_BROKER_URL, 'cache': settings.CACHES['default']['BACKEND'],"
        "'cookie_secure': settings.SESSION_COOKIE_SECURE, 'hosts': settings.ALLOWED_HOSTS}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "DJANGO_", "DATABASE_", "REDIS_", "MEDIA_", "DEFAULT_FROM"))}
    base["DJANGO_SETTINGS_MODULE"] = "governance.settings"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, env={**base, **env}, cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_environment_variables_as_the_table_says(tmp_path):
    configured = _settings_in_subprocess(
        {
            "DJANGO_ENV": "production",
            "DJANGO_SECRET_KEY": "x" * 60,
            "DJANGO_ALLOWED_HOSTS": "portal.example.com, api.example.com",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "REDIS_URL": "redis://127.0.0.1:6379/9",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "EMAIL_HOST": "smtp.example.com",
            "EMAIL_PORT": "2525",
            "EMAIL_HOST_USER": "mailer",
            "EMAIL_HOST_PASSWORD": "secret",
            "EMAIL_USE_TLS": "true",
            "DEFAULT_FROM_EMAIL": "portal@example.com",
        }
    )
    assert configured["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (configured["host"], configured["port"], configured["user"], configured["tls"], configured["from"]) == (
        "smtp.example.com", 2525, "mailer", True, "portal@example.com"
    )
    assert configured["engine"] == "django.db.backends.sqlite3" and configured["name"] == str(tmp_path / "portal.sqlite3")
    assert configured["media"] == str(tmp_path / "media")
    assert configured["broker"] == "redis://127.0.0.1:6379/9"
    assert "redis" in configured["cache"].lower()
    assert configured["debug"] is False and configured["cookie_secure"] is True
    assert configured["hosts"] == ["portal.example.com", "api.example.com"]

    laptop = _settings_in_subprocess({"DATABASE_URL": "postgres://u:p@db.example.com:5432/portal"})
    assert laptop["email"] == "django.core.mail.backends.console.EmailBackend"
    assert laptop["engine"] == "django.db.backends.postgresql" and laptop["name"] == "portal"
    assert laptop["debug"] is True


def test_production_requires_a_secret_key():
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_",))}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], check=False,
        env={**base, "DJANGO_SETTINGS_MODULE": "governance.settings", "DJANGO_ENV": "production"},
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


# --- More of the conventions -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/api/v1/models/credit-risk/versions/abc/"])
def test_unknown_api_paths_answer_the_json_error(credit_model, alice, api_for, path):
    response = api_for(alice).get(path)
    assert_error(response, 404)
    assert response["Content-Type"].startswith("application/json")


def test_portal_pages_keep_their_html_404(alice, client):
    client.force_login(alice)
    response = client.get("/models/no-such-model-anywhere/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_deactivated_users_session_is_refused(alice, admin_user, api_for):
    session = APIClient()
    assert session.login(username="alice", password=factories.PASSWORD)
    assert session.get("/api/v1/models/").status_code == 200
    api_for(admin_user).post("/api/v1/users/alice/deactivate/")
    # The session is no longer a login: no credentials, so 401 as for anyone signed out.
    assert_error(session.get("/api/v1/models/"), 401)


def test_lists_paginate_and_hold_only_what_the_caller_sees(credit_model, alice, eve, datasets, api_for):
    for index in range(3):
        factories.make_model(alice, name=f"Extra {index}")
    page = api_for(alice).get("/api/v1/models/?page_size=2").json()
    assert_page(page)
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"] and page["previous"] is None
    second = api_for(alice).get(page["next"]).json()
    assert second["previous"] and len(second["results"]) == 2

    assert api_for(eve).get("/api/v1/datasets/").json()["count"] == 0
    assert_error(api_for(eve).get(f"/api/v1/datasets/{datasets[0].pk}/"), 404)
    grants = api_for(alice).get(f"/api/v1/models/{credit_model.slug}/grants/").json()
    assert_page(grants)
    assert_error(api_for(eve).get(f"/api/v1/models/{credit_model.slug}/grants/"), 404)
    assert_page(api_for(alice).get(f"/api/v1/models/{credit_model.slug}/versions/").json())


def test_users_are_not_shown_to_other_users(alice, eve, api_for):
    assert api_for(alice).get("/api/v1/users/alice/").json()["roles"] == ["data_scientist"]
    assert_error(api_for(eve).get("/api/v1/users/alice/"), 404)


def test_grant_needs_a_username_or_a_group(credit_model, alice, api_for):
    url = f"/api/v1/models/{credit_model.slug}/grants/"
    neither = api_for(alice).post(url, {"role": "viewer"}, format="json")
    assert_error(neither, 400, "username")
    assert "not both" not in neither.json()["detail"]
    assert_error(api_for(alice).post(url, {"username": "eve", "group": "auditor", "role": "viewer"}, format="json"), 400)
    assert_error(api_for(alice).post(url, {"username": "nobody", "role": "viewer"}, format="json"), 400, "username")


def test_skops_version_and_bad_code_ref(credit_model, alice, datasets, api_for):
    training, validation = datasets
    files = factories.classifier_files()
    url = f"/api/v1/models/{credit_model.slug}/versions/"
    body = {"training_dataset": training.pk, "validation_dataset": validation.pk}
    response = api_for(alice).post(url, {**body, "artifact": factories.upload("model.skops", files["skops"])}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["format"] == "skops" and response.json()["state"] == "draft"
    assert all(set(entry) >= {"name", "type"} for entry in response.json()["input_schema"])
    assert_error(api_for(alice).post(url, body, format="multipart"), 400, "artifact")


# --- More of the lifecycle -------------------------------------------------------------------


def test_owner_cannot_retire_a_champion(version_in, alice, oscar, api_for):
    champion = version_in("champion")
    assert_error(transition(api_for(alice), champion, "retire", "replaced by a rules engine"), 403)
    assert transition(api_for(oscar), champion, "retire", "replaced by a rules engine").json()["state"] == "retired"


def test_rollback_only_for_a_former_champion(version_in, oscar, api_for):
    never_champion = walk(version_in("approved"), [], users={})
    retired = transition(api_for(oscar), never_champion, "retire", "not needed")
    assert retired.json()["state"] == "retired"
    assert_error(transition(api_for(oscar), never_champion, "rollback", "bring it back"), 409)


@pytest.mark.parametrize("name", ["rerun_tests", "promote_to_challenger", "promote_to_champion", "retire", "rollback"])
def test_transitions_from_the_wrong_state_are_409(version_in, name, alice, carol, oscar, api_for):
    draft = version_in("draft")
    who = carol if name == "rerun_tests" else oscar
    assert_error(transition(api_for(who), draft, name, "why"), 409)


def test_history_lists_signoffs_and_agents(version_in, carol, alice, api_for):
    version = version_in("in_review")
    sign(api_for(carol), version)
    entries = api_for(alice).get(vurl(version, "history/")).json()
    kinds = [entry["kind"] for entry in entries]
    assert "signoff" in kinds
    signoff = next(e for e in entries if e["kind"] == "signoff")
    assert signoff["actor"] == "carol" and signoff["actor_kind"] == "human" and signoff["annotation"] == "Reviewed the tests."
    agent_moves = [e for e in entries if e["kind"] == "transition" and e["from_state"] == "testing"]
    assert agent_moves and agent_moves[0]["actor_kind"] == "agent" and agent_moves[0]["to_state"] == "warming_up"
    approve = [e for e in entries if e["kind"] == "transition" and e["to_state"] == "approved"]
    assert approve and entries.index(approve[0]) > entries.index(signoff)
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


def test_version_detail_after_a_signoff(version_in, carol, alice, oscar, api_for):
    version = version_in("in_review")
    sign(api_for(carol), version)
    body = api_for(alice).get(vurl(version)).json()
    assert body["state"] == "approved" and body["submitted_by"] == "alice"
    assert body["available_transitions"] == ["retire"]
    assert sorted(api_for(oscar).get(vurl(version)).json()["available_transitions"]) == ["promote_to_challenger", "retire"]
    assert body["signoffs"][0]["signer"] == "carol" and body["signoffs"][0]["decision"] == "approve"
    assert len(body["signoffs"]) == 1 and body["required_signoffs"] == 1
    assert_utc(body["signoffs"][0]["at"])
    assert body["training_dataset"] and body["validation_dataset"]


def test_signoff_with_mfa_needs_the_code(version_in, carol, api_for):
    from tests.lifecycle.test_api import _code, _totp_for

    version = version_in("in_review")
    secret = _totp_for(carol)
    assert_error(sign(api_for(carol), version), 403)
    wrong = "000000" if _code(secret) != "000000" else "111111"
    assert_error(sign(api_for(carol), version, otp=wrong), 403)
    assert not SignOff.objects.filter(version=version).exists()
    assert sign(api_for(carol), version, otp=_code(secret)).status_code == 201


def test_dataset_without_target_and_bad_csv(alice, api_for):
    files = factories.classifier_files()
    response = api_for(alice).post(
        "/api/v1/datasets/", {"name": "scoring", "file": factories.upload("s.csv", files["valid_csv"], "text/csv")}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "scoring"
    assert_error(
        api_for(alice).post("/api/v1/datasets/", {"name": "bin", "file": factories.upload("b.csv", b"\xff\xfe\x00\x01" * 10)}, format="multipart"),
        400,
    )
    assert_error(
        api_for(alice).post(
            "/api/v1/datasets/",
            {"name": "t", "file": factories.upload("t.csv", files["valid_csv"], "text/csv"), "target": "no_such_column"},
            format="multipart",
        ),
        400,
    )


def test_reviewer_grant_through_a_group_signs(version_in, credit_model, alice, carol, api_for):
    frank = factories.make_user("frank", "validator")
    group = Group.objects.create(name="risk-reviewers")
    frank.groups.add(group)
    url = f"/api/v1/models/{credit_model.slug}/grants/"
    # The owner does not choose her reviewers; a validator does.
    assert_error(api_for(alice).post(url, {"group": "risk-reviewers", "role": "reviewer"}, format="json"), 403)
    response = api_for(carol).post(url, {"group": "risk-reviewers", "role": "reviewer"}, format="json")
    assert response.status_code == 201, response.content
    version = version_in("in_review")
    assert sign(api_for(frank), version).status_code == 201


def test_whoever_ran_submit_may_not_sign(version_in, credit_model, bob, carol, alice, api_for, users):
    # bob (a contributor, and a validator with the reviewer grant) submits alice's upload.
    bob.groups.add(Group.objects.get(name="validator"))
    factories.grant(model=credit_model, user=bob, role="reviewer")
    version = factories.make_version(credit_model, alice, datasets=None)
    assert transition(api_for(bob), version, "submit").status_code == 200
    version = walk(version, ["pass_tests", "pass_warmup"], users=users)
    assert_error(sign(api_for(bob), version), 403)
    assert not SignOff.objects.filter(version=version).exists()
    assert not TransitionRecord.objects.filter(version=version, name__in=["approve", "reject"]).exists()


def test_deactivation_deletes_nothing(version, alice, admin_user, api_for):
    api_for(admin_user).post("/api/v1/users/alice/deactivate/")
    admin = api_for(admin_user)
    assert admin.get(f"/api/v1/models/{version.model.slug}/").json()["owners"] == ["alice"]
    assert admin.get(vurl(version)).json()["submitted_by"] == "alice"
    assert User.objects.filter(username="alice").exists()


def test_expired_token_is_401(alice):
    from datetime import timedelta

    from django.utils import timezone

    token, raw = token_create(actor=alice, user=alice, label="old", expires_at=timezone.now() + timedelta(minutes=1))
    type(token).objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_error(client.get("/api/v1/models/"), 401)


def test_wsgi_application_and_celery_app_are_where_the_page_says():
    from governance import celery_app
    from governance.wsgi import application

    assert callable(application)
    celery_app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled and scheduled <= set(celery_app.tasks)


def test_revoked_token_is_401(alice):
    from governance.access.services import token_revoke

    token, raw = token_create(actor=alice, user=alice, label="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/models/").status_code == 200
    token_revoke(actor=alice, token=token)
    assert_error(client.get("/api/v1/models/"), 401)


def test_admins_and_auditors_see_but_do_not_move_versions(version_in, admin_user, audrey, api_for):
    draft = version_in("draft")
    approved = version_in("approved")
    for user in (admin_user, audrey):
        client = api_for(user)
        assert client.get(vurl(draft)).json()["available_transitions"] == []
        assert_error(transition(client, draft, "submit"), 403)
        assert_error(transition(client, draft, "withdraw", "x"), 403)
        assert_error(transition(client, approved, "retire", "x"), 403)
        assert_error(transition(client, approved, "promote_to_challenger", "x"), 403)


def test_admins_change_the_approvals_of_a_tier(admin_user, version_in, alice, api_for, client):
    from django.urls import reverse

    policy = ApprovalPolicy.objects.get(risk_tier="medium")
    meta = ApprovalPolicy._meta
    client.force_login(admin_user)
    response = client.post(
        reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[policy.pk]),
        {"required_approvals": 3, "min_shadow_hours": 72, "min_shadow_requests": 500},
    )
    assert response.status_code == 302, response.content[:500]
    version = version_in("in_review")
    assert api_for(alice).get(vurl(version)).json()["required_signoffs"] == 3
