"""``manage.py seed_demo``: one user per role, living models, and safe to run twice.

``--settle`` is tested with a real Celery worker (in a thread, on the test Redis) and without one.
"""

import re
import time
from io import StringIO

import pytest
import redis
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.access import permissions
from governance.access.models import ModelGrant, User
from governance.audit.models import AuditEvent
from governance.audit.verification import chain_verify
from governance.demo.management.commands.seed_demo import DEMO_PASSWORD
from governance.demo.totp import DEMO_TOTP_SECRET
from governance.registry import selectors, services
from governance.registry.models import Dataset, MLModel, ModelVersion
from workflows.lifecycle.models import SignOff, TransitionRecord
from workflows.testsuites.models import TestRun

from ..factories import upload
from ..testsuites.conftest import (
    FAST_JOB_SETTINGS,
    TEST_REDIS_URL,
    in_thread_worker,
    purge,
    use_broker,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_one_time_codes():
    """A one-time code is accepted once (allauth remembers used codes in the cache): no test
    inherits the codes another used within the same 30 s."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _test_broker():
    """Submitting enqueues test runs: on the test Redis, never the development broker.

    The runs enqueued here name rows of this test's database: drop them afterwards, so that no
    later worker picks them up.
    """
    use_broker(TEST_REDIS_URL)
    yield
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1, socket_timeout=2).flushdb()
    except redis.RedisError:
        pass  # no Redis: nothing was enqueued there either (the runs stayed queued in the database)


def seed(*options: str, files_dir=None) -> str:
    out = StringIO()
    call_command("seed_demo", *options, f"--files-dir={files_dir}", stdout=out)
    return out.getvalue()


@pytest.fixture
def files_dir(tmp_path):
    return tmp_path / "demo-files"


@pytest.fixture
def role_groups(transactional_db):
    """The role groups (recreated by post_migrate after an earlier test's flush)."""
    from django.contrib.auth.models import Group

    return set(Group.objects.values_list("name", flat=True))


def snapshot() -> dict:
    return {
        "users": sorted(User.objects.values_list("username", "password", "is_superuser")),
        "groups": sorted(User.groups.through.objects.values_list("user__username", "group__name")),
        "models": sorted(MLModel.objects.values_list("slug", "risk_tier", "last_version_number")),
        "grants": sorted(ModelGrant.objects.values_list("model__slug", "user__username", "role")),
        "datasets": sorted(Dataset.objects.values_list("name", "sha256")),
        "versions": sorted(ModelVersion.objects.values_list("model__slug", "number", "artifact_sha256", "state")),
    }


def test_seed_demo_makes_a_living_portal_and_is_idempotent(client, files_dir, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = seed(files_dir=files_dir)
    state = snapshot()
    written = {path.name: path.stat().st_mtime_ns for path in files_dir.iterdir()}
    with django_capture_on_commit_callbacks(execute=True) as second_callbacks:
        second = seed(files_dir=files_dir)
    assert snapshot() == state  # nothing changed, passwords included
    assert second_callbacks == []  # nothing submitted again
    assert {path.name: path.stat().st_mtime_ns for path in files_dir.iterdir()} == written

    for output in (first, second):
        for username, role in [("dana", "data scientist"), ("val", "validator"), ("vera", "validator"),
                               ("otto", "operator"), ("audra", "auditor"), ("adam", "admin")]:
            assert f"{username:<10}{role:<18}{DEMO_PASSWORD}" in output

    dana, val, vera, otto, audra, adam = (User.objects.get(username=n) for n in ("dana", "val", "vera", "otto", "audra", "adam"))
    assert adam.is_superuser and adam.is_staff and adam.has_role("admin")
    assert dana.has_role("data_scientist") and audra.has_role("auditor") and otto.has_role("operator")

    cancer = MLModel.objects.get(slug="breast-cancer-screening")
    diabetes = MLModel.objects.get(slug="diabetes-progression")
    wine = MLModel.objects.get(slug="wine-cultivar")
    assert (cancer.risk_tier, cancer.task) == ("high", "classification")
    assert (diabetes.risk_tier, diabetes.task) == ("medium", "regression")
    assert sorted(cancer.versions.values_list("format", flat=True)) == ["onnx", "skops"]
    # Submitted as the data scientist, through the transition service: a queued test run each.
    assert dict(ModelVersion.objects.values_list("model__slug", "state").filter(number=1)) == {
        "breast-cancer-screening": "testing", "diabetes-progression": "testing", "wine-cultivar": "draft",
    }
    assert cancer.versions.get(number=2).state == "draft"
    for version in ModelVersion.objects.filter(state="testing"):
        record = TransitionRecord.objects.get(version=version, name="submit")
        assert record.actor == dana
        assert TestRun.objects.get(version=version).status == "queued"
    assert not TestRun.objects.filter(version__state="draft").exists()
    for model in (cancer, diabetes, wine):
        assert permissions.is_owner(dana, model)
        assert permissions.is_reviewer(val, model) and permissions.is_reviewer(vera, model)
        assert permissions.is_operator(otto, model)
    version = cancer.versions.get(number=1)
    assert version.training_dataset.target == "target" and len(version.input_schema) == 30

    # The logins work, and the demo user lands on a list with the models.
    assert client.login(username="dana", password=DEMO_PASSWORD)
    page = client.get("/models/").content.decode()
    assert "Breast cancer screening" in page and "Diabetes progression" in page
    assert list(selectors.models_visible_to(audra).order_by("slug")) == [cancer, diabetes, wine]

    # Sample files to upload, printed; they go through the real intake as a matching set.
    for name in ("breast-cancer-training.csv", "breast-cancer-validation.csv", "breast-cancer-classifier.onnx"):
        assert str(files_dir / name) in first
    trial = services.model_create(user=dana, name="Upload trial", slug="upload-trial", task="classification",
                                  risk_tier="low", description="")
    training, validation = (
        services.dataset_create(user=dana, name=name, target="target",
                                upload=upload(name, (files_dir / f"breast-cancer-{name}.csv").read_bytes()))
        for name in ("training", "validation")
    )
    uploaded = services.version_create(
        user=dana, model=trial, artifact=upload("model.onnx", (files_dir / "breast-cancer-classifier.onnx").read_bytes()),
        training_dataset=training, validation_dataset=validation, code_repository="", code_commit="", note="",
    )
    assert uploaded.format == "onnx" and len(uploaded.input_schema) == 30


def test_seed_demo_enrols_a_validator_in_totp_and_prints_how_to_get_codes(files_dir):
    from allauth.mfa.models import Authenticator

    first = seed(files_dir=files_dir)
    second = seed(files_dir=files_dir)

    val = User.objects.get(username="val")
    totp = Authenticator.objects.get(user=val, type=Authenticator.Type.TOTP)  # one, after two runs
    assert not Authenticator.objects.exclude(user=val).exists()
    secret = DEMO_TOTP_SECRET
    for output in (first, second):
        assert f"secret: {secret}" in output
        assert f"otpauth://totp/" in output and f"secret={secret}" in output
        assert "python manage.py totp_code val" in output
    # As an enrolment on the Two-factor page: once in the trail.
    enrolled = AuditEvent.objects.filter(action="mfa.enrolled")
    assert [(event.object_repr, event.details["type"]) for event in enrolled] == [(str(val), totp.type)]

    code = StringIO()
    call_command("totp_code", "val", stdout=code)
    code = code.getvalue().strip()
    assert re.fullmatch(r"\d{6}", code)
    assert totp.wrap().validate_code(code)  # what sign-in and signing check


def test_totp_code_refuses_production_and_says_what_is_missing(settings, files_dir):
    from governance.access.models import User as Person

    Person.objects.create_user(username="nomfa", password="x")
    for username, message in [("nobody", "No user named 'nobody'"), ("nomfa", "nomfa has no authenticator app")]:
        with pytest.raises(CommandError, match=message):
            call_command("totp_code", username, stdout=StringIO())
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("totp_code", "nomfa", stdout=StringIO())


def test_seed_demo_completes_a_half_seeded_model(files_dir):
    seed(files_dir=files_dir)
    cancer = MLModel.objects.get(slug="breast-cancer-screening")
    # As if the first run had stopped after v1: the next run adds what is missing, once.
    ModelVersion.objects.filter(model=cancer, number=2).delete()
    seed(files_dir=files_dir)
    assert sorted(cancer.versions.values_list("number", flat=True)) == [1, 3]
    seed(files_dir=files_dir)
    assert cancer.versions.count() == 2


def test_seed_demo_refuses_production_without_the_flag(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_settle_with_a_worker_ends_with_a_champion_and_a_version_in_review(role_groups, settings, files_dir):
    for name, value in FAST_JOB_SETTINGS.items():
        setattr(settings, name, value)
    purge()
    # As ./scripts/start does: seed first (the test runs wait in Redis), then settle once a worker runs.
    seed(files_dir=files_dir)
    with in_thread_worker():
        output = seed("--settle", "--timeout=90", files_dir=files_dir)

    cancer, diabetes, wine = (MLModel.objects.get(slug=s) for s in ("breast-cancer-screening", "diabetes-progression", "wine-cultivar"))
    champion = selectors.champion_of(cancer)
    assert champion is not None and champion.number == 1
    assert [v.state for v in cancer.versions.order_by("number")] == ["champion", "draft"]
    assert [v.state for v in diabetes.versions.all()] == ["in_review"]
    assert [v.state for v in wine.versions.all()] == ["draft"]
    # Reached through the services: the worker's agents, two validators' signatures, the operator.
    assert list(TransitionRecord.objects.filter(version=champion).order_by("at", "id").values_list("name", "actor__username", "agent_name")) == [
        ("submit", "dana", ""),
        ("pass_tests", "test-runner", "test-runner"),
        ("pass_warmup", "warmup-runner", "warmup-runner"),
        ("approve", "vera", ""),
        ("promote_to_challenger", "otto", ""),
        ("promote_to_champion", "otto", ""),
    ]
    assert sorted(SignOff.objects.filter(version=champion).values_list("signer__username", "decision", "with_mfa")) == [
        ("val", "approve", True), ("vera", "approve", False)  # val, enrolled in TOTP, signs with a one-time code
    ]
    assert not SignOff.objects.filter(version__model=diabetes).exists()
    # ... and in the audit trail, whose chain holds.
    signed = AuditEvent.objects.filter(kind="signoff", model_slug=cancer.slug, version_number=1)
    assert sorted(signed.values_list("actor_username", flat=True)) == ["val", "vera"]
    assert chain_verify().ok
    assert "v1 (champion)" in output and "v1 (in review)" in output

    # Settling again changes nothing.
    before = TransitionRecord.objects.count(), SignOff.objects.count()
    seed("--settle", "--timeout=5", files_dir=files_dir)
    assert (TransitionRecord.objects.count(), SignOff.objects.count()) == before


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_settle_without_a_worker_gives_up_with_a_clear_message(role_groups, files_dir):
    purge()
    started = time.monotonic()
    with pytest.raises(CommandError, match=r"Gave up after 2 s: .*still testing.*Is a Celery worker running\?"):
        seed("--settle", "--timeout=2", files_dir=files_dir)
    assert time.monotonic() - started < 30
    assert not SignOff.objects.exists()
    assert set(ModelVersion.objects.exclude(state="draft").values_list("state", flat=True)) == {"testing"}
