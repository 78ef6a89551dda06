"""``manage.py seed_demo``: one user per role, living models, and safe to run twice."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.access import permissions
from governance.access.models import ModelGrant, User
from governance.registry import selectors
from governance.registry.models import Dataset, MLModel, ModelVersion
from governance.registry.management.commands.seed_demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "users": sorted(User.objects.values_list("username", "password", "is_superuser")),
        "groups": sorted(User.groups.through.objects.values_list("user__username", "group__name")),
        "models": sorted(MLModel.objects.values_list("slug", "risk_tier", "last_version_number")),
        "grants": sorted(ModelGrant.objects.values_list("model__slug", "user__username", "role")),
        "datasets": sorted(Dataset.objects.values_list("name", "sha256")),
        "versions": sorted(ModelVersion.objects.values_list("model__slug", "number", "artifact_sha256", "state")),
    }


def test_seed_demo_makes_a_living_portal_and_is_idempotent(client):
    first = seed()
    state = snapshot()
    second = seed()
    assert snapshot() == state  # nothing changed, passwords included

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
    assert set(ModelVersion.objects.values_list("state", flat=True)) == {"draft"}
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


def test_seed_demo_completes_a_half_seeded_model():
    seed()
    cancer = MLModel.objects.get(slug="breast-cancer-screening")
    # As if the first run had stopped after v1: the next run adds what is missing, once.
    ModelVersion.objects.filter(model=cancer, number=2).delete()
    seed()
    assert sorted(cancer.versions.values_list("number", flat=True)) == [1, 3]
    seed()
    assert cancer.versions.count() == 2


def test_seed_demo_refuses_production_without_the_flag(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()
