"""The registry's browser pages: who sees what, uploads through forms, lists and downloads."""

import pickle
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from governance.registry.models import Dataset, MLModel, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 takes about half a second a user on the shared CI machine; these tests check
    # pages, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login(client, user):
    client.force_login(user)
    return client


def blobs(kind: str) -> set[Path]:
    root = Path(settings.MEDIA_ROOT) / kind
    return set(root.rglob("*")) if root.exists() else set()


def model_url(model):
    return reverse("registry:model_detail", args=[model.slug])


def version_url(version):
    return reverse("registry:version_detail", args=[version.model.slug, version.number])


def artifact_url(version):
    return reverse("registry:artifact_download", args=[version.model.slug, version.number])


@pytest.fixture
def vic(credit_model, alice):
    """A user with only the viewer grant on the credit model."""
    user = factories.make_user("vic", "data_scientist")
    factories.grant(model=credit_model, user=user, role="viewer", granted_by=alice)
    return user


# --- Signing in ------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("registry:model_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_root_redirects_to_model_list(client, alice):
    response = login(client, alice).get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:model_list")


def test_login_page_looks_like_the_portal_and_signs_in(client, alice):
    page = client.get(reverse("account_login"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "css/portal.css" in html and 'name="login"' in html and 'name="password"' in html
    response = client.post(reverse("account_login"), {"login": "alice", "password": factories.PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:model_list")


def test_login_with_a_wrong_password_shows_the_error(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_allauth_pages_use_the_portal_layout(client, alice):
    page = login(client, alice).get(reverse("account_reset_password"))
    assert page.status_code == 200
    assert "css/portal.css" in page.content.decode() and 'class="topbar"' in page.content.decode()


# --- Every page renders for the right user ---------------------------------------------------


def test_owner_sees_model_list_with_newest_version_state(client, alice, version):
    response = login(client, alice).get(reverse("registry:model_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Credit risk" in html
    assert 'class="badge state-draft"' in html
    assert "none yet" in html  # no champion
    assert reverse("registry:model_create") in html


def test_model_page_shows_facts_versions_and_lineage(client, alice, version):
    response = login(client, alice).get(model_url(version.model))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Classification", "Medium", "alice", version.artifact_sha256[:12],
                 version.training_dataset.sha256[:12], "3f2a1b9", version_url(version),
                 reverse("registry:version_create", args=[version.model.slug])):
        assert text in html, text


def test_version_page_shows_lineage_and_downloads(client, alice, version):
    response = login(client, alice).get(version_url(version))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (version.artifact_sha256, version.training_dataset.sha256, version.validation_dataset.sha256,
                 artifact_url(version), reverse("registry:dataset_download", args=[version.training_dataset.pk]),
                 "https://git.example.com/risk/credit", "3f2a1b9", "First version.", "Alice Tester",
                 version.input_schema[0]["name"]):
        assert text in html, text
    assert 'class="badge state-draft"' in html


def test_input_schema_types_come_from_the_training_columns(alice, credit_model, datasets):
    version = factories.make_version(credit_model, alice, datasets=datasets, fmt="skops")
    assert {feature["type"] for feature in version.input_schema} == {"float"}


def test_dataset_pages_render_for_uploader(client, alice, version):
    login(client, alice)
    listing = client.get(reverse("registry:dataset_list"))
    assert listing.status_code == 200
    assert version.training_dataset.sha256[:12] in listing.content.decode()
    detail = client.get(reverse("registry:dataset_detail", args=[version.training_dataset.pk]))
    assert detail.status_code == 200
    html = detail.content.decode()
    assert version.training_dataset.sha256 in html
    assert version.training_dataset.target in html
    assert version_url(version) in html  # "used by"


def test_reviewer_sees_pages_without_upload_button(client, carol, version):
    login(client, carol)
    page = client.get(model_url(version.model))
    assert page.status_code == 200
    assert reverse("registry:version_create", args=[version.model.slug]) not in page.content.decode()
    assert client.get(version_url(version)).status_code == 200
    assert client.get(reverse("registry:dataset_detail", args=[version.training_dataset.pk])).status_code == 200


def test_auditor_sees_every_model(client, audrey, version):
    response = login(client, audrey).get(reverse("registry:model_list"))
    assert "Credit risk" in response.content.decode()
    assert reverse("registry:model_create") not in response.content.decode()
    assert client.get(version_url(version)).status_code == 200


def test_model_and_version_pages_show_the_panels_they_name(client, alice, version):
    login(client, alice)
    page = client.get(version_url(version)).content.decode()
    # Lifecycle first, then the test evidence, as templates/registry/version_detail.html names them.
    assert 0 < page.index('id="lifecycle"') < page.index('id="test-runs"')
    page = client.get(model_url(version.model)).content.decode()
    assert 0 < page.index('id="access"') < page.index('id="champion-on-date"')


# --- Outsiders get 404, never 403 -------------------------------------------------------------


def test_outsider_gets_404_for_everything_of_a_model_she_cannot_see(client, eve, version):
    login(client, eve)
    urls = [
        model_url(version.model),
        version_url(version),
        artifact_url(version),
        reverse("registry:version_create", args=[version.model.slug]),
        reverse("registry:dataset_detail", args=[version.training_dataset.pk]),
        reverse("registry:dataset_download", args=[version.training_dataset.pk]),
        reverse("registry:dataset_download", args=[version.validation_dataset.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    listing = client.get(reverse("registry:model_list")).content.decode()
    assert "Credit risk" not in listing
    assert version.training_dataset.sha256[:12] not in client.get(reverse("registry:dataset_list")).content.decode()


def test_outsider_gets_404_in_the_api_too(eve, version, api_for):
    client = api_for(eve)
    assert client.get(f"/api/v1/models/{version.model.slug}/").status_code == 404
    assert client.get(f"/api/v1/models/{version.model.slug}/versions/1/").status_code == 404
    assert client.get(f"/api/v1/datasets/{version.training_dataset.pk}/").status_code == 404


def test_404_page_uses_the_portal_layout(client, eve, version):
    response = login(client, eve).get(model_url(version.model))
    assert "css/portal.css" in response.content.decode()
    assert "Credit risk" not in response.content.decode()


def test_outsider_cannot_post_a_version_either(client, eve, credit_model):
    files = factories.classifier_files()
    eve_train, eve_valid = factories.make_datasets(eve)
    response = login(client, eve).post(
        reverse("registry:version_create", args=[credit_model.slug]),
        {"artifact": factories.upload("m.onnx", files["onnx"]), "training_dataset": eve_train.pk,
         "validation_dataset": eve_valid.pk},
    )
    assert response.status_code == 404
    assert not ModelVersion.objects.filter(model=credit_model).exists()


# --- Refusals: 403 for a visible model the user may not change -----------------------------------


def test_viewer_cannot_reach_the_upload_form(client, vic, credit_model):
    login(client, vic)
    assert client.get(model_url(credit_model)).status_code == 200
    response = client.get(reverse("registry:version_create", args=[credit_model.slug]))
    assert response.status_code == 403
    assert "contributor" in response.content.decode()  # the 403 page says why


def test_reviewer_cannot_post_a_version(client, carol, credit_model, datasets):
    files = factories.classifier_files()
    response = login(client, carol).post(
        reverse("registry:version_create", args=[credit_model.slug]),
        {"artifact": factories.upload("m.onnx", files["onnx"]), "training_dataset": datasets[0].pk,
         "validation_dataset": datasets[1].pk},
    )
    assert response.status_code == 403
    assert not ModelVersion.objects.exists()


def test_validator_cannot_register_a_model(client, carol):
    login(client, carol)
    assert client.get(reverse("registry:model_create")).status_code == 403
    response = client.post(reverse("registry:model_create"), {"name": "X", "task": "regression", "risk_tier": "low"})
    assert response.status_code == 403
    assert not MLModel.objects.exists()


def test_operator_cannot_upload_datasets(client, oscar):
    login(client, oscar)
    assert client.get(reverse("registry:dataset_create")).status_code == 403
    assert reverse("registry:dataset_create") not in client.get(reverse("registry:dataset_list")).content.decode()


# --- Forms: success paths -----------------------------------------------------------------------


def test_data_scientist_registers_a_model_and_owns_it(client, eve):
    response = login(client, eve).post(
        reverse("registry:model_create"),
        {"name": "Churn", "task": "classification", "risk_tier": "high", "description": "Who leaves."},
    )
    model = MLModel.objects.get(slug="churn")
    assert response.status_code == 302 and response["Location"] == model_url(model)
    assert model.grants.get().user == eve and model.grants.get().role == "owner"
    assert "You are its owner" in client.get(response["Location"]).content.decode()


def test_duplicate_slug_is_shown_next_to_the_slug_field(client, alice, credit_model):
    response = login(client, alice).post(
        reverse("registry:model_create"), {"name": "Another", "slug": credit_model.slug, "task": "regression", "risk_tier": "low"}
    )
    assert response.status_code == 400
    assert "already exists" in " ".join(response.context["form"].errors["slug"])
    assert MLModel.objects.count() == 1


def test_reserved_slug_new_is_refused(client, alice):
    response = login(client, alice).post(
        reverse("registry:model_create"), {"name": "New", "task": "regression", "risk_tier": "low"}
    )
    assert response.status_code == 400
    assert "reserved" in " ".join(response.context["form"].errors["slug"])
    assert not MLModel.objects.exists()


def test_bad_choice_is_shown_next_to_its_field(client, alice):
    response = login(client, alice).post(
        reverse("registry:model_create"), {"name": "Churn", "task": "classification", "risk_tier": "extreme"}
    )
    assert response.status_code == 400
    assert "risk_tier" in response.context["form"].errors
    assert 'id="risk_tier-errors"' in response.content.decode()


def test_dataset_upload_form_stores_the_csv(client, alice):
    files = factories.classifier_files()
    response = login(client, alice).post(
        reverse("registry:dataset_create"),
        {"name": "Loans 2025", "file": factories.upload("loans.csv", files["train_csv"], "text/csv"), "target": "target"},
    )
    dataset = Dataset.objects.get(name="Loans 2025")
    assert response.status_code == 302 and response["Location"] == dataset.get_absolute_url()
    assert dataset.target == "target" and dataset.uploaded_by == alice and dataset.rows > 100


def test_dataset_upload_goes_back_to_a_local_next_page_only(client, alice, credit_model):
    files = factories.classifier_files()
    login(client, alice)
    back = reverse("registry:version_create", args=[credit_model.slug])
    response = client.post(
        reverse("registry:dataset_create") + f"?next={back}",
        {"file": factories.upload("a.csv", files["train_csv"], "text/csv"), "target": "target"},
    )
    assert response["Location"] == back
    response = client.post(
        reverse("registry:dataset_create") + "?next=https://evil.example/",
        {"file": factories.upload("b.csv", files["valid_csv"], "text/csv"), "target": "target"},
    )
    assert response["Location"] == Dataset.objects.get(name="b.csv").get_absolute_url()


def test_contributor_uploads_a_version_through_the_form(client, bob, credit_model):
    files = factories.classifier_files()
    training, validation = factories.make_datasets(bob)
    response = login(client, bob).post(
        reverse("registry:version_create", args=[credit_model.slug]),
        {"artifact": factories.upload("credit.onnx", files["onnx"]), "training_dataset": training.pk,
         "validation_dataset": validation.pk, "code_ref": "https://git.example.com/risk/credit@abc1234",
         "note": "Retrained."},
    )
    version = ModelVersion.objects.get(model=credit_model)
    assert response.status_code == 302 and response["Location"] == version_url(version)
    assert version.state == "draft" and version.number == 1 and version.submitted_by == bob
    assert (version.code_repository, version.code_commit) == ("https://git.example.com/risk/credit", "abc1234")
    assert "v1" in client.get(reverse("registry:model_list")).content.decode()


def test_version_form_offers_only_datasets_the_user_can_see(client, alice, eve, credit_model, datasets):
    eve_train, _ = factories.make_datasets(eve)
    response = login(client, alice).get(reverse("registry:version_create", args=[credit_model.slug]))
    offered = set(response.context["form"].fields["training_dataset"].queryset)
    assert set(datasets) <= offered and eve_train not in offered
    files = factories.classifier_files()
    response = client.post(
        reverse("registry:version_create", args=[credit_model.slug]),
        {"artifact": factories.upload("m.onnx", files["onnx"]), "training_dataset": eve_train.pk,
         "validation_dataset": datasets[1].pk},
    )
    assert response.status_code == 400
    assert "training_dataset" in response.context["form"].errors
    assert not ModelVersion.objects.exists()


# --- Forms: refusals shown next to their field, nothing stored -----------------------------------


def _post_version(client, model, datasets, artifact, **extra):
    return client.post(
        reverse("registry:version_create", args=[model.slug]),
        {"artifact": artifact, "training_dataset": datasets[0].pk, "validation_dataset": datasets[1].pk, **extra},
    )


def test_pickle_renamed_onnx_is_refused_next_to_the_artifact_field(client, alice, credit_model, datasets):
    before = blobs("artifacts")
    payload = pickle.dumps({"weights": [1, 2, 3]})
    response = _post_version(login(client, alice), credit_model, datasets, factories.upload("model.onnx", payload))
    assert response.status_code == 415
    errors = " ".join(response.context["form"].errors["artifact"])
    assert "ONNX (.onnx) and skops (.skops)" in errors
    assert 'id="artifact-errors"' in response.content.decode()
    assert "choose the file again" in response.content.decode()
    # The rest of the form is kept for the second try.
    assert response.context["form"]["training_dataset"].value() == str(datasets[0].pk)
    assert not ModelVersion.objects.exists() and blobs("artifacts") == before


def test_empty_artifact_is_refused_next_to_the_artifact_field(client, alice, credit_model, datasets):
    response = _post_version(login(client, alice), credit_model, datasets, factories.upload("model.onnx", b""))
    assert response.status_code == 400
    assert "empty" in " ".join(response.context["form"].errors["artifact"])
    assert not ModelVersion.objects.exists() and not blobs("artifacts")


def test_training_dataset_without_target_is_refused_next_to_its_field(client, alice, credit_model, datasets):
    files = factories.classifier_files()
    untargeted = factories.services.dataset_create(
        user=alice, name="no target", upload=factories.upload("t.csv", files["train_csv"]), target=""
    )
    response = _post_version(
        login(client, alice), credit_model, (untargeted, datasets[1]), factories.upload("m.onnx", files["onnx"])
    )
    assert response.status_code == 400
    assert "no target column" in " ".join(response.context["form"].errors["training_dataset"])
    assert not ModelVersion.objects.exists() and not blobs("artifacts")


def test_bad_code_ref_is_refused_next_to_its_field(client, alice, credit_model, datasets):
    files = factories.classifier_files()
    response = _post_version(
        login(client, alice), credit_model, datasets, factories.upload("m.onnx", files["onnx"]), code_ref="no-commit-here"
    )
    assert response.status_code == 400
    assert "repository@commit" in " ".join(response.context["form"].errors["code_ref"])
    assert not ModelVersion.objects.exists()


def _post_dataset(client, content: bytes, target: str = "target", name: str = "upload.csv"):
    return client.post(
        reverse("registry:dataset_create"), {"file": factories.upload(name, content, "text/csv"), "target": target}
    )


def test_empty_csv_is_refused_next_to_the_file_field(client, alice):
    response = _post_dataset(login(client, alice), b"")
    assert response.status_code == 400
    assert "empty" in " ".join(response.context["form"].errors["file"])
    assert not Dataset.objects.exists() and not blobs("datasets")


def test_missing_target_column_is_refused_next_to_the_target_field(client, alice):
    response = _post_dataset(login(client, alice), b"a,b\n1,2\n3,4\n", target="label")
    assert response.status_code == 400
    assert "'label' is not in the data set" in " ".join(response.context["form"].errors["target"])
    assert not Dataset.objects.exists() and not blobs("datasets")


def test_bad_encoding_csv_is_refused_next_to_the_file_field(client, alice):
    response = _post_dataset(login(client, alice), "name,target\nJosé,1\n".encode("latin-1"))
    assert response.status_code == 400
    assert "not valid UTF-8" in " ".join(response.context["form"].errors["file"])
    assert 'id="file-errors"' in response.content.decode()
    assert not Dataset.objects.exists() and not blobs("datasets")


def test_missing_file_is_a_field_error(client, alice):
    response = login(client, alice).post(reverse("registry:dataset_create"), {"target": "target"})
    assert response.status_code == 400
    assert "file" in response.context["form"].errors


def test_an_empty_post_says_what_is_missing(client, alice, credit_model):
    login(client, alice)
    response = client.post(reverse("registry:version_create", args=[credit_model.slug]), {})
    assert response.status_code == 400
    assert {"artifact", "training_dataset", "validation_dataset"} <= set(response.context["form"].errors)
    response = client.post(reverse("registry:dataset_create"), {})
    assert response.status_code == 400 and "file" in response.context["form"].errors
    response = client.post(reverse("registry:model_create"), {})
    assert response.status_code == 400 and "name" in response.context["form"].errors


# --- List: search, filters, pagination -------------------------------------------------------------


@pytest.fixture
def many_models(alice):
    """25 models: 'Model 00'..'Model 24'; every fifth is high risk."""
    return [
        factories.make_model(alice, name=f"Model {i:02d}", risk_tier="high" if i % 5 == 0 else "low")
        for i in range(25)
    ]


def _names(response) -> list[str]:
    return [model.name for model in response.context["page_obj"]]


def test_list_is_paginated_and_keeps_filters_in_page_links(client, alice, many_models):
    login(client, alice)
    first = client.get(reverse("registry:model_list"))
    assert _names(first) == [f"Model {i:02d}" for i in range(20)]
    second = client.get(reverse("registry:model_list"), {"page": 2})
    assert _names(second) == [f"Model {i:02d}" for i in range(20, 25)]
    assert 'href="?page=2"' in first.content.decode()
    filtered = client.get(reverse("registry:model_list"), {"q": "Model", "state": ""})
    assert 'href="?q=Model&amp;state=&amp;page=2"' in filtered.content.decode()
    last = client.get(reverse("registry:model_list"), {"q": "Model", "page": 2})
    assert 'href="?q=Model&amp;page=1"' in last.content.decode() and len(_names(last)) == 5


def test_list_search_matches_name_and_slug(client, alice, many_models):
    login(client, alice)
    assert _names(client.get(reverse("registry:model_list"), {"q": "model 07"})) == ["Model 07"]
    assert _names(client.get(reverse("registry:model_list"), {"q": "model-13"})) == ["Model 13"]
    empty = client.get(reverse("registry:model_list"), {"q": "nothing like this"})
    assert _names(empty) == [] and "No model matches" in empty.content.decode()


def test_list_filters_by_risk_tier(client, alice, many_models):
    response = login(client, alice).get(reverse("registry:model_list"), {"risk_tier": "high"})
    assert _names(response) == ["Model 00", "Model 05", "Model 10", "Model 15", "Model 20"]


def test_list_filters_by_state_of_newest_version(client, alice, many_models, datasets):
    factories.make_version(many_models[3], alice, datasets=datasets)
    login(client, alice)
    assert _names(client.get(reverse("registry:model_list"), {"state": "draft"})) == ["Model 03"]
    assert _names(client.get(reverse("registry:model_list"), {"state": "champion"})) == []
    # An unknown value is ignored rather than emptying the list.
    assert len(_names(client.get(reverse("registry:model_list"), {"state": "bogus"}))) == 20


def test_list_runs_a_fixed_number_of_queries(client, alice, many_models, datasets, django_assert_max_num_queries):
    for model in many_models[:4]:
        factories.make_version(model, alice, datasets=datasets)
    login(client, alice)
    # However many models: session, user, her roles, the count, the page's models and grants,
    # and the header's unread notifications.
    with django_assert_max_num_queries(13):
        response = client.get(reverse("registry:model_list"))
    assert len(_names(response)) == 20


# --- Downloads ---------------------------------------------------------------------------------


def test_artifact_download_gives_the_stored_bytes(client, alice, version):
    response = login(client, alice).get(artifact_url(version))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == factories.classifier_files()["onnx"]
    assert f'filename="{version.model.slug}-v1.onnx"' in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment")


def test_dataset_download_gives_the_stored_bytes(client, carol, version):
    # carol sees the dataset because a version of a model she reviews uses it.
    response = login(client, carol).get(reverse("registry:dataset_download", args=[version.training_dataset.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == factories.classifier_files()["train_csv"]
    assert ".csv" in response["Content-Disposition"]
