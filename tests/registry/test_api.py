"""The registry's API: models, datasets and versions, with refusals and races."""

import pickle
import threading

import pytest
from django.db import connection

from governance.registry.models import Dataset, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


def test_create_model_makes_creator_owner(alice, api_for):
    response = api_for(alice).post(
        "/api/v1/models/", {"name": "Churn", "risk_tier": "high", "task": "classification"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "churn"
    assert body["owners"] == ["alice"]
    assert body["champion"] is None


def test_create_model_refuses_bad_risk_tier_with_field_error(alice, api_for):
    response = api_for(alice).post(
        "/api/v1/models/", {"name": "Churn", "risk_tier": "extreme", "task": "classification"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_choice"
    assert "risk_tier" in body and body["detail"]


def test_duplicate_slug_is_refused(alice, api_for):
    client = api_for(alice)
    client.post("/api/v1/models/", {"name": "Churn", "risk_tier": "low", "task": "regression"}, format="json")
    response = client.post("/api/v1/models/", {"name": "Churn", "risk_tier": "low", "task": "regression"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "duplicate"


def test_validator_cannot_register_model(carol, api_for):
    response = api_for(carol).post(
        "/api/v1/models/", {"name": "Churn", "risk_tier": "low", "task": "regression"}, format="json"
    )
    assert response.status_code == 403


def test_no_token_is_401_and_bad_token_is_401(client):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/models/").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer gov_not-a-real-token")
    response = bad.get("/api/v1/models/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_model_list_shows_only_visible_models(credit_model, alice, eve, audrey, api_for):
    factories.make_model(eve, name="Eve's own")
    assert [m["slug"] for m in api_for(alice).get("/api/v1/models/").json()["results"]] == ["credit-risk"]
    assert [m["slug"] for m in api_for(eve).get("/api/v1/models/").json()["results"]] == ["eves-own"]
    listing = api_for(audrey).get("/api/v1/models/").json()
    assert listing["count"] == 2


def test_outsider_gets_404_for_model_and_versions(credit_model, version, eve, api_for):
    client = api_for(eve)
    for url in (
        "/api/v1/models/credit-risk/",
        "/api/v1/models/credit-risk/versions/",
        f"/api/v1/models/credit-risk/versions/{version.number}/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_model_search_and_filter(alice, api_for):
    factories.make_model(alice, name="Credit risk", risk_tier="high")
    factories.make_model(alice, name="Fraud score", risk_tier="low")
    client = api_for(alice)
    assert [m["slug"] for m in client.get("/api/v1/models/?search=fraud").json()["results"]] == ["fraud-score"]
    assert [m["slug"] for m in client.get("/api/v1/models/?risk_tier=high").json()["results"]] == ["credit-risk"]


def test_dataset_upload_stores_under_sha256(alice, api_for, settings):
    import hashlib

    content = factories.classifier_files()["train_csv"]
    response = api_for(alice).post(
        "/api/v1/datasets/",
        {"name": "train", "file": factories.upload("train.csv", content, "text/csv"), "target": "target"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    digest = hashlib.sha256(content).hexdigest()
    assert body["sha256"] == digest
    assert body["rows"] == content.count(b"\n") - 1
    assert body["columns"][-1]["name"] == "target"
    stored = settings.MEDIA_ROOT / "datasets" / digest[:2] / f"{digest}.csv"
    assert stored.read_bytes() == content


def test_dataset_with_missing_target_is_refused_and_nothing_stored(alice, api_for, settings):
    response = api_for(alice).post(
        "/api/v1/datasets/",
        {"file": factories.upload("d.csv", b"a,b\n1,2\n", "text/csv"), "target": "label"},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "missing_target"
    assert "target" in response.json()
    assert Dataset.objects.count() == 0
    assert not (settings.MEDIA_ROOT / "datasets").exists()


def test_dataset_with_bad_encoding_is_refused(alice, api_for):
    response = api_for(alice).post(
        "/api/v1/datasets/",
        {"file": factories.upload("d.csv", "name,x\nJosé,1\n".encode("latin-1"), "text/csv")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_encoding"


def _post_version(client, model, datasets, name, content, **extra):
    training, validation = datasets
    data = {
        "artifact": factories.upload(name, content),
        "training_dataset": training.pk,
        "validation_dataset": validation.pk,
        **extra,
    }
    return client.post(f"/api/v1/models/{model.slug}/versions/", data, format="multipart")


def test_upload_onnx_version(credit_model, alice, datasets, api_for):
    files = factories.classifier_files()
    response = _post_version(
        api_for(alice), credit_model, datasets, "model.onnx", files["onnx"], code_ref="https://git.example.com/x@abc123"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == 1
    assert body["state"] == "draft"
    assert body["format"] == "onnx"
    assert [f["name"] for f in body["input_schema"]] == datasets[0].feature_names
    assert body["code_ref"] == "https://git.example.com/x@abc123"


def test_upload_skops_version(credit_model, bob, api_for):
    datasets = factories.make_datasets(bob)
    response = _post_version(api_for(bob), credit_model, datasets, "model.skops", factories.classifier_files()["skops"])
    assert response.status_code == 201, response.json()
    assert response.json()["format"] == "skops"


@pytest.mark.parametrize("filename", ["model.onnx", "model.pkl", "model.joblib", "model.skops"])
def test_pickle_is_refused_with_415_whatever_its_name(credit_model, alice, datasets, api_for, settings, filename):
    content = pickle.dumps({"weights": [1, 2, 3]})
    response = _post_version(api_for(alice), credit_model, datasets, filename, content)
    assert response.status_code == 415
    body = response.json()
    assert body["code"] == "unsupported_format"
    assert "ONNX" in body["detail"] and "skops" in body["detail"]
    assert ModelVersion.objects.count() == 0
    assert not (settings.MEDIA_ROOT / "artifacts").exists()


def test_truncated_onnx_is_refused(credit_model, alice, datasets, api_for):
    content = factories.classifier_files()["onnx"]
    response = _post_version(api_for(alice), credit_model, datasets, "model.onnx", content[: len(content) // 2])
    assert response.status_code == 400
    assert response.json()["code"] == "corrupt_artifact"
    assert ModelVersion.objects.count() == 0


def test_onnx_memory_bomb_is_refused_with_400_naming_node_and_limit(credit_model, alice, datasets, api_for, settings):
    settings.GOVERNANCE_MAX_ONNX_TENSOR_ELEMENTS = 1_000_000
    content = factories.onnx_constant_of_shape_bomb(50_000)
    response = _post_version(api_for(alice), credit_model, datasets, "model.onnx", content)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "tensor_too_large"
    assert "'fill' (ConstantOfShape)" in body["detail"] and "1,000,000 elements" in body["detail"]
    assert body["artifact"] == [body["detail"]]
    assert ModelVersion.objects.count() == 0
    assert not (settings.MEDIA_ROOT / "artifacts").exists()


def test_empty_artifact_is_refused(credit_model, alice, datasets, api_for):
    response = _post_version(api_for(alice), credit_model, datasets, "model.onnx", b"")
    assert response.status_code == 400
    assert response.json()["code"] == "empty_file"


def test_oversized_artifact_is_refused_with_413(credit_model, alice, datasets, api_for, settings):
    settings.GOVERNANCE_MAX_ARTIFACT_BYTES = 100
    response = _post_version(api_for(alice), credit_model, datasets, "model.onnx", factories.classifier_files()["onnx"])
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert ModelVersion.objects.count() == 0


def test_schema_mismatch_with_training_columns_is_refused(credit_model, alice, api_for):
    files = factories.regressor_files()
    datasets = factories.make_datasets(alice, files)
    # A classifier on 8 features against a 10-feature training set.
    response = _post_version(api_for(alice), credit_model, datasets, "model.onnx", factories.classifier_files()["onnx"])
    assert response.status_code == 400
    assert response.json()["code"] == "schema_mismatch"


def test_viewer_cannot_upload_version(credit_model, alice, eve, api_for):
    
    datasets = factories.make_datasets(eve)
    factories.grant(model=credit_model, user=eve, role="viewer", granted_by=alice)
    response = _post_version(api_for(eve), credit_model, datasets, "model.onnx", factories.classifier_files()["onnx"])
    assert response.status_code == 403


def test_outsider_cannot_upload_version(credit_model, eve, api_for):
    datasets = factories.make_datasets(eve)
    response = _post_version(api_for(eve), credit_model, datasets, "model.onnx", factories.classifier_files()["onnx"])
    assert response.status_code == 404


def test_datasets_of_others_are_not_usable(credit_model, alice, eve, api_for):
    eve_datasets = factories.make_datasets(eve)
    response = _post_version(api_for(alice), credit_model, eve_datasets, "model.onnx", factories.classifier_files()["onnx"])
    assert response.status_code == 400
    assert "training_dataset" in response.json()


def test_version_numbers_are_sequential_and_never_reused(credit_model, alice, datasets):
    first = factories.make_version(credit_model, alice, datasets=datasets)
    second = factories.make_version(credit_model, alice, datasets=datasets)
    assert (first.number, second.number) == (1, 2)
    credit_model.refresh_from_db()
    assert credit_model.last_version_number == 2


@pytest.mark.django_db(transaction=True)
def test_racing_uploads_get_distinct_numbers(alice, bob, carol, dave, oscar):
    model = factories.make_model(alice, contributor=[bob])
    datasets = factories.make_datasets(alice)
    # bob may use alice's datasets once a version of a model he works on uses them.
    factories.make_version(model, alice, datasets=datasets)
    numbers, errors = [], []
    barrier = threading.Barrier(4)

    def upload_one(user):
        try:
            barrier.wait()
            numbers.append(factories.make_version(model, user, datasets=datasets).number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload_one, args=(user,)) for user in (alice, bob, alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [2, 3, 4, 5]


def test_reserved_slug_is_refused(alice, api_for):
    response = api_for(alice).post(
        "/api/v1/models/", {"name": "New", "slug": "new", "risk_tier": "low", "task": "regression"}, format="json"
    )
    assert response.status_code == 400
    assert "reserved" in response.json()["detail"]


def test_version_service_refuses_datasets_the_uploader_cannot_see(credit_model, alice, eve):
    """Whatever the door (page, API, command), a version cannot attach someone else's datasets."""
    from governance.registry import services
    from governance.registry.services import RegistryError

    eve_training, eve_validation = factories.make_datasets(eve)
    with pytest.raises(RegistryError) as refusal:
        services.version_create(
            user=alice,
            model=credit_model,
            artifact=factories.upload("model.onnx", factories.classifier_files()["onnx"]),
            training_dataset=eve_training,
            validation_dataset=eve_validation,
        )
    assert refusal.value.field == "training_dataset"
    assert ModelVersion.objects.count() == 0
