"""Versions loaded once per process and reused for scoring: the gateway's model cache.

Only a version that passed review (approved, challenger, champion, or retired after one of
those) is loaded here, in the web process or a worker alike: intake and review accepted its
ONNX or skops artifact, and neither format runs code when loaded. Earlier versions stay
worker-only (``workflows.testsuites.scoring.load_version``). A version's artifact never changes,
so a loaded version is kept by id and artifact digest (a restored database that reuses an id for
other bytes gets them loaded afresh); its file's SHA-256 is checked once, when it is loaded.

Which version answers is never cached: the caller looks up the champion for each request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

from governance.registry.models import ModelVersion, VersionState
from governance.registry.storage import blob_path
from workflows.testsuites.scoring import LoadedModel, ModelLoadError, Predictions

# States of a version that passed intake and review.
SERVABLE_STATES = frozenset({VersionState.APPROVED, VersionState.CHALLENGER, VersionState.CHAMPION, VersionState.RETIRED})


class NotServable(ModelLoadError):
    """The version has not been approved: it is never loaded outside a worker's test run."""


@dataclass(frozen=True)
class ServedVersion:
    pk: int
    number: int
    model_id: int
    artifact_sha256: str
    input_schema: list
    task: str
    loaded: LoadedModel

    def score(self, rows: list[list]) -> tuple[Predictions, float]:
        """Predictions for rows of checked values (feature order) and the milliseconds it took."""
        start = time.perf_counter()
        predictions = self.loaded.predict_inputs(self.loaded.inputs_from_rows(rows), len(rows))
        return predictions, (time.perf_counter() - start) * 1000


_cache: OrderedDict[tuple[int, str], ServedVersion] = OrderedDict()
_cache_lock = threading.Lock()
_load_locks: dict[tuple[int, str], threading.Lock] = {}


def served_version(version_id: int, artifact_sha256: str) -> ServedVersion:
    """The version ready to score, loaded on first use in this process and kept (LRU, at most
    ``GOVERNANCE_GATEWAY_LOADED_VERSIONS``); two threads asking at once load it once."""
    key = (version_id, artifact_sha256)
    served = _cache.get(key)
    if served is not None:
        return served
    with _cache_lock:
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:
        served = _cache.get(key)
        if served is None:
            served = _load(version_id)
            if served.artifact_sha256 != artifact_sha256:
                raise ModelLoadError(f"Version {served.number} is not the artifact {artifact_sha256[:12]}.")
            with _cache_lock:
                _cache[key] = served
                while len(_cache) > max(1, settings.GOVERNANCE_GATEWAY_LOADED_VERSIONS):
                    _cache.popitem(last=False)
    with _cache_lock:
        _load_locks.pop(key, None)
        if key in _cache:
            _cache.move_to_end(key)
    return served


def loaded_version_ids() -> list[int]:
    """The versions this process holds loaded (oldest use first)."""
    return [version_id for version_id, _ in _cache]


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def _load(version_id: int) -> ServedVersion:
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    if version.state not in SERVABLE_STATES:
        raise NotServable(f"Version {version.number} is '{version.state}': only approved versions are served.")
    path = blob_path(version.artifact_path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != version.artifact_sha256:
        raise ModelLoadError(
            f"The stored artifact of version {version.number} does not match its SHA-256: it is not served."
        )
    loaded = LoadedModel(fmt=version.format, path=path, features=version.feature_names, task=version.model.task)
    return ServedVersion(
        pk=version.pk,
        number=version.number,
        model_id=version.model_id,
        artifact_sha256=version.artifact_sha256,
        input_schema=list(version.input_schema),
        task=version.model.task,
        loaded=loaded,
    )
