"""POST /api/v1/models/{slug}/predict: who may score, what is checked, what is answered and recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rest_framework.test import APIClient

from governance.demo import sample_models
from tests import factories
from workflows.gateway import serving
from workflows.testsuites.models import ScoringRecord
from workflows.testsuites.scoring import LoadedModel

from .conftest import rows_of

pytestmark = pytest.mark.django_db


def predict(client, model, body, **kwargs):
    return client.post(
        f"/api/v1/models/{model.slug}/predict",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        **kwargs,
    )


def test_viewer_token_scores_one_row_with_the_champion(champion, credit_model, victor, api_for):
    rows = rows_of(champion)
    response = predict(api_for(victor), credit_model, {"inputs": rows})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["model_version"] == champion.number
    assert len(body["predictions"]) == 1 and len(body["probabilities"]) == 1
    # The answer is the champion's own: the same as loading the artifact and scoring the row.
    loaded = LoadedModel(
        fmt=champion.format, path=serving.blob_path(champion.artifact_path), features=champion.feature_names, task="classification"
    )
    expected = loaded.predict_inputs(loaded.inputs_from_rows([[rows[0][f] for f in champion.feature_names]]), 1)
    assert body["predictions"] == expected.values.tolist()
    assert np.allclose(body["probabilities"], expected.scores)
    record = ScoringRecord.objects.get(trace_id=body["trace_id"])
    assert record.shadow is False and record.version == champion and record.inputs == rows
    assert record.outputs == {"predictions": body["predictions"], "probabilities": body["probabilities"]}
    assert record.caller == victor and record.artifact_sha256 == champion.artifact_sha256
    assert record.rows == 1 and record.latency_ms > 0 and record.via_token.startswith("tests (")


def test_signed_in_viewer_scores_a_batch(champion, credit_model, victor):
    client = APIClient()
    client.force_login(victor)
    response = predict(client, credit_model, {"inputs": rows_of(champion, 25)})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 25
    assert ScoringRecord.objects.get(trace_id=response.json()["trace_id"]).rows == 25


def test_session_caller_needs_csrf(champion, credit_model, victor):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(victor)
    assert predict(client, credit_model, {"inputs": rows_of(champion)}).status_code == 403
    assert not ScoringRecord.objects.exists()


def test_every_role_that_sees_the_model_scores(champion, credit_model, alice, carol, oscar, audrey, api_for):
    for user in (alice, carol, oscar, audrey):
        assert predict(api_for(user), credit_model, {"inputs": rows_of(champion)}).status_code == 200, user


def test_outsider_and_unknown_model_are_404_and_nothing_is_scored(champion, credit_model, eve, victor, api_for):
    response = predict(api_for(eve), credit_model, {"inputs": rows_of(champion)})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert predict(api_for(victor), type(credit_model)(slug="no-such-model"), {"inputs": rows_of(champion)}).status_code == 404
    assert not ScoringRecord.objects.exists()
    assert serving.loaded_version_ids() == []


def test_no_credentials_is_401(champion, credit_model):
    assert predict(APIClient(), credit_model, {"inputs": rows_of(champion)}).status_code == 401


def test_deactivated_callers_token_is_refused(champion, credit_model, victor, api_for, admin_user):
    from governance.access.services import user_deactivate

    client = api_for(victor)
    user_deactivate(actor=admin_user, user=victor)
    assert predict(client, credit_model, {"inputs": rows_of(champion)}).status_code == 401
    assert not ScoringRecord.objects.exists()


def test_model_without_champion_is_409(version, credit_model, victor, api_for):
    response = predict(api_for(victor), credit_model, {"inputs": rows_of(version)})
    assert response.status_code == 409 and response.json()["code"] == "no_champion"
    assert not ScoringRecord.objects.exists()


def _bad(champion, mutate):
    rows = rows_of(champion, 3)
    mutate(rows)
    return rows


@pytest.mark.parametrize(
    "make_body, code, row, feature",
    [
        (lambda c, f: {"inputs": _bad(c, lambda rows: rows[1].pop(f[2]))}, "missing_feature", 1, 2),
        (lambda c, f: {"inputs": _bad(c, lambda rows: rows[2].update(colour=1.0))}, "unknown_feature", 2, "colour"),
        (lambda c, f: {"inputs": _bad(c, lambda rows: rows[0].update({f[0]: "high"}))}, "wrong_type", 0, 0),
        (lambda c, f: {"inputs": _bad(c, lambda rows: rows[1].update({f[3]: True}))}, "wrong_type", 1, 3),
        (lambda c, f: {"inputs": _bad(c, lambda rows: rows[1].update({f[3]: None}))}, "wrong_type", 1, 3),
        (lambda c, f: {"inputs": _bad(c, lambda rows: rows[2].update({f[1]: [1.0]}))}, "wrong_type", 2, 1),
        (lambda c, f: {"inputs": []}, "empty_batch", None, None),
        (lambda c, f: {"inputs": {f[0]: 1.0}}, "not_a_list", None, None),
        (lambda c, f: {"inputs": [rows_of(c)[0], [1.0, 2.0]]}, "not_an_object", 1, None),
        (lambda c, f: [rows_of(c)[0]], "not_a_list", None, None),
        (lambda c, f: {"rows": rows_of(c)}, "not_a_list", None, None),
    ],
    ids=["missing", "unknown", "string-for-float", "bool-for-float", "null", "list", "empty", "object-not-list",
         "row-not-object", "body-is-a-list", "no-inputs"],
)
def test_bad_inputs_are_400_naming_row_and_feature(champion, credit_model, victor, api_for, make_body, code, row, feature):
    features = champion.feature_names
    response = predict(api_for(victor), credit_model, make_body(champion, features))
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == code and body["detail"]
    if row is not None:
        assert body["row"] == row and f"inputs[{row}]" in body["detail"]
    if feature is not None:
        name = features[feature] if isinstance(feature, int) else feature
        assert body["feature"] == name and name in body["detail"]
    assert not ScoringRecord.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_400_naming_row_and_feature(champion, credit_model, victor, api_for, literal):
    rows = rows_of(champion, 2)
    name = champion.feature_names[4]
    text = json.dumps({"inputs": rows}).replace(json.dumps(rows[1][name]), literal, 1)
    assert literal in text
    response = predict(api_for(victor), credit_model, text)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "not_finite" and body["row"] == 1 and body["feature"] == name
    assert not ScoringRecord.objects.exists()


def test_a_body_that_is_not_json_is_400(champion, credit_model, victor, api_for):
    response = predict(api_for(victor), credit_model, "{inputs: nope")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert not ScoringRecord.objects.exists()


def test_batch_over_the_setting_is_413(champion, credit_model, victor, api_for, settings):
    settings.GOVERNANCE_GATEWAY_MAX_BATCH_ROWS = 10
    client = api_for(victor)
    assert predict(client, credit_model, {"inputs": rows_of(champion, 10)}).status_code == 200
    response = predict(client, credit_model, {"inputs": rows_of(champion, 11)})
    assert response.status_code == 413 and response.json()["code"] == "batch_too_large"
    assert "at most 10" in response.json()["detail"]
    assert ScoringRecord.objects.count() == 1


def test_rate_limit_per_token_is_429_with_retry_after(champion, credit_model, victor, alice, api_for, settings):
    settings.GOVERNANCE_GATEWAY_RATE_LIMIT = 3
    settings.GOVERNANCE_GATEWAY_RATE_WINDOW_SECONDS = 3600
    client = api_for(victor)
    body = {"inputs": rows_of(champion)}
    assert [predict(client, credit_model, body).status_code for _ in range(3)] == [200, 200, 200]
    response = predict(client, credit_model, body)
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert ScoringRecord.objects.count() == 3
    # Another token, even of the same person, has its own count.
    assert predict(api_for(victor), credit_model, body).status_code == 200
    assert predict(api_for(alice), credit_model, body).status_code == 200


def test_champion_is_loaded_once_per_process_and_reused(champion, credit_model, victor, api_for, monkeypatch):
    loads = []
    original = serving._load
    monkeypatch.setattr(serving, "_load", lambda version_id: loads.append(version_id) or original(version_id))
    client = api_for(victor)
    for offset in range(5):
        assert predict(client, credit_model, {"inputs": rows_of(champion, 2, offset)}).status_code == 200
    assert loads == [champion.pk]


def test_versions_not_yet_approved_never_load_outside_workers(version, credit_model, alice):
    with pytest.raises(serving.NotServable):
        serving.served_version(version.pk, version.artifact_sha256)
    assert serving.loaded_version_ids() == []


def test_an_artifact_whose_bytes_changed_is_not_served(champion, credit_model, victor, api_for):
    path = serving.blob_path(champion.artifact_path)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"tampered")
    response = predict(api_for(victor), credit_model, {"inputs": rows_of(champion)})
    assert response.status_code == 502 and "SHA-256" in response.json()["detail"]
    assert not ScoringRecord.objects.exists()


def test_skops_champion_scores_too(credit_model, alice, oscar, datasets, victor, api_for, no_shadow_minimum):
    from tests.testsuites.helpers import make_champion

    skops = make_champion(factories.make_version(credit_model, alice, datasets=datasets, fmt="skops"), submitter=alice, operator=oscar)
    response = predict(api_for(victor), credit_model, {"inputs": rows_of(skops, 3)})
    assert response.status_code == 200, response.json()
    assert response.json()["model_version"] == skops.number and len(response.json()["probabilities"]) == 3


def test_regression_champion_has_no_probabilities(alice, oscar, victor, api_for, no_shadow_minimum):
    from tests.testsuites.helpers import make_champion, regression_version

    model = factories.make_model(alice, name="Progression", task="regression", operator=[oscar], viewer=[victor])
    make_champion(regression_version(model, alice, factories.regressor_files()["onnx"]), submitter=alice, operator=oscar)
    train, _valid, target = sample_models.diabetes_frames()
    rows = [{k: float(v) for k, v in row.items()} for row in train.drop(columns=[target]).head(2).to_dict(orient="records")]
    response = predict(api_for(victor), model, {"inputs": rows})
    assert response.status_code == 200, response.json()
    assert "probabilities" not in response.json() and len(response.json()["predictions"]) == 2



def test_rate_limit_counts_on_the_shared_redis_cache(champion, credit_model, victor, api_for, settings):
    from tests.testsuites.conftest import TEST_REDIS_URL

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": TEST_REDIS_URL, "KEY_PREFIX": "gateway-test"}
    }
    from django.core.cache import cache

    cache.clear()
    settings.GOVERNANCE_GATEWAY_RATE_LIMIT = 2
    client = api_for(victor)
    body = {"inputs": rows_of(champion)}
    assert [predict(client, credit_model, body).status_code for _ in range(3)] == [200, 200, 429]
    cache.clear()


def test_the_redis_rate_counter_is_the_caches_own_key_and_expires_after_its_window(
    champion, credit_model, victor, api_for, settings
):
    import time

    import redis
    from django.core.cache import cache

    from governance.access.models import ApiToken
    from tests.testsuites.conftest import TEST_REDIS_URL

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": TEST_REDIS_URL, "KEY_PREFIX": "gateway-test"}
    }
    cache.clear()
    settings.GOVERNANCE_GATEWAY_RATE_LIMIT = 100
    window = 10**9  # one window for the whole test, whenever it runs
    settings.GOVERNANCE_GATEWAY_RATE_WINDOW_SECONDS = window
    client = api_for(victor)
    body = {"inputs": rows_of(champion)}
    assert [predict(client, credit_model, body).status_code for _ in range(3)] == [200, 200, 200]
    key = f"gateway:rate:token:{ApiToken.objects.get(user=victor).pk}:{int(time.time() // window)}"
    assert cache.get(key) == 3  # under the cache's prefix and version, readable through the cache
    assert window - 60 < redis.Redis.from_url(TEST_REDIS_URL).ttl(cache.make_key(key)) <= window + 5
    cache.clear()


def test_an_unreachable_cache_does_not_refuse_answers(champion, credit_model, victor, api_for, settings, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", down)
    monkeypatch.setattr(cache, "incr", down)
    settings.GOVERNANCE_GATEWAY_RATE_LIMIT = 1
    client = api_for(victor)
    assert [predict(client, credit_model, {"inputs": rows_of(champion)}).status_code for _ in range(2)] == [200, 200]


def test_an_unreachable_redis_cache_does_not_refuse_answers(champion, credit_model, victor, api_for, settings):
    from tests.testsuites.conftest import free_port

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    settings.GOVERNANCE_GATEWAY_RATE_LIMIT = 1
    client = api_for(victor)
    assert [predict(client, credit_model, {"inputs": rows_of(champion)}).status_code for _ in range(2)] == [200, 200]
