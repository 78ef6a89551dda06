"""Loading a submitted model and scoring rows with it.

A version that has not been approved is loaded only in Celery workers (``load_version``); the
scoring gateway loads approved versions in the web process too (workflows/gateway/serving.py).

ONNX artifacts run in onnxruntime (CPU, one thread per session so several workers share a
machine fairly); skops artifacts are loaded with no extra trusted types, as at intake. Every
prediction is checked: one output per row, finite numbers, probabilities in [0, 1]. A model
that returns anything else raises ``ModelOutputError`` with a reason a reviewer can read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from governance.registry.storage import blob_path

logger = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """The artifact could not be loaded."""


class ModelOutputError(Exception):
    """The model raised, or returned something that is not a prediction per row."""


@dataclass
class Predictions:
    """Outputs for n rows. ``values`` are labels (classification) or numbers (regression);
    ``scores`` are the probability of the positive class (binary classification) or None."""

    values: np.ndarray
    scores: np.ndarray | None


class LoadedModel:
    """A version's artifact, loaded once, that scores a DataFrame of its input features."""

    def __init__(self, *, fmt: str, path: Path, features: list[str], task: str):
        self.format = fmt
        self.features = features
        self.task = task
        self.path = path
        if fmt == "onnx":
            self._load_onnx(path)
        elif fmt == "skops":
            self._load_skops(path)
        else:
            raise ModelLoadError(f"Unknown artifact format '{fmt}'.")

    # --- loading ---------------------------------------------------------------------------
    def _load_onnx(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # No memory arena: a worker opens a session, scores once and drops it, and the arena's
        # fresh chunks for each session cost more than plain allocations (docs/benchmarks.md, warm-up).
        options.enable_cpu_mem_arena = False
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any load failure is the model's fault
            raise ModelLoadError(f"onnxruntime cannot load the artifact: {_first_line(exc)}") from exc
        self._inputs = self._session.get_inputs()
        self._outputs = [o.name for o in self._session.get_outputs()]

    def _load_skops(self, path: Path) -> None:
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=str(path))
            if untrusted:
                raise ModelLoadError(f"The skops file needs untrusted types: {', '.join(untrusted[:5])}.")
            self._estimator = sio.load(str(path), trusted=[])
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"skops cannot load the artifact: {_first_line(exc)}") from exc

    # --- scoring ---------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame) -> Predictions:
        """Score the rows of ``frame`` (it must hold the input features); validate the result."""
        return self.predict_inputs(self.inputs_for(frame), len(frame))

    def inputs_for(self, frame: pd.DataFrame):
        """The model's input built once from a DataFrame: arrays for ONNX, the frame for skops.

        Building it once and slicing it (``slice_inputs``) is what makes scoring many rows in
        chunks, or one row at a time for latency, cost little more than the model itself.
        """
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ModelOutputError(f"The inputs lack the feature(s) {', '.join(missing[:5])}.")
        if self.format != "onnx":
            return frame[self.features]
        try:
            if len(self._inputs) == 1:
                spec = self._inputs[0]
                return {spec.name: frame[self.features].to_numpy(dtype=_onnx_dtype(spec.type))}
            feed = {}
            for spec in self._inputs:
                if spec.name not in frame.columns:
                    raise ModelOutputError(f"The ONNX input '{spec.name}' is not among the features.")
                feed[spec.name] = frame[spec.name].to_numpy(dtype=_onnx_dtype(spec.type)).reshape(-1, 1)
            return feed
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(f"The inputs cannot be converted to the model's input types: {_first_line(exc)}") from exc

    def inputs_from_rows(self, rows: list[list]):
        """The model's input from rows of values already in feature order (the gateway's
        checked request), without building a DataFrame for ONNX: one row costs microseconds."""
        if self.format != "onnx":
            return pd.DataFrame(rows, columns=self.features)
        try:
            if len(self._inputs) == 1:
                return {self._inputs[0].name: np.asarray(rows, dtype=_onnx_dtype(self._inputs[0].type))}
            position = {name: index for index, name in enumerate(self.features)}
            feed = {}
            for spec in self._inputs:
                if spec.name not in position:
                    raise ModelOutputError(f"The ONNX input '{spec.name}' is not among the features.")
                column = [row[position[spec.name]] for row in rows]
                feed[spec.name] = np.asarray(column, dtype=_onnx_dtype(spec.type)).reshape(-1, 1)
            return feed
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(f"The inputs cannot be converted to the model's input types: {_first_line(exc)}") from exc

    def same_inputs_as(self, other: LoadedModel) -> bool:
        """Whether ``other.inputs_for(frame)`` can be fed to this model as it is."""
        if self.format != "onnx" or other.format != "onnx" or self.features != other.features:
            return False
        signature = [(i.name, i.type) for i in self._inputs]
        return signature == [(i.name, i.type) for i in other._inputs]

    @staticmethod
    def slice_inputs(inputs, start: int, stop: int):
        if isinstance(inputs, dict):
            return {name: array[start:stop] for name, array in inputs.items()}
        return inputs.iloc[start:stop]

    def predict_inputs(self, inputs, n: int) -> Predictions:
        try:
            if self.format == "onnx":
                values, scores = self._predict_onnx(inputs)
            else:
                values, scores = self._predict_skops(inputs)
        except ModelOutputError:
            raise
        except Exception as exc:  # noqa: BLE001 - the model raised: that is its failure
            raise ModelOutputError(f"The model raised {type(exc).__name__}: {_first_line(exc)}") from exc
        return _validated(values, scores, n, self.task)

    def _predict_onnx(self, feed: dict):
        outputs = self._session.run(None, feed)
        named = dict(zip(self._outputs, outputs))
        if self.task == "classification":
            labels = named.get("label", outputs[0])
            probabilities = named.get("probabilities")
            if probabilities is None and len(outputs) > 1:
                probabilities = outputs[1]
            return np.asarray(labels), _positive_scores(probabilities)
        return np.asarray(outputs[0]), None

    def _predict_skops(self, frame: pd.DataFrame):
        estimator = self._estimator
        data = frame if getattr(estimator, "feature_names_in_", None) is not None else frame.to_numpy()
        values = np.asarray(estimator.predict(data))
        scores = None
        if self.task == "classification" and callable(getattr(estimator, "predict_proba", None)):
            scores = _positive_scores(np.asarray(estimator.predict_proba(data)))
        return values, scores


def _positive_scores(probabilities) -> np.ndarray | None:
    """The probability of the positive class for a binary classifier, else the top score."""
    if probabilities is None:
        return None
    array = np.asarray(probabilities)
    if array.ndim == 2 and array.shape[1] == 2:
        return array[:, 1]
    if array.ndim == 2 and array.shape[1] > 2:
        return array.max(axis=1)
    return array.reshape(-1)


def _validated(values, scores, n: int, task: str) -> Predictions:
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != n:
        raise ModelOutputError(f"The model returned output of shape {tuple(values.shape)} for {n} rows.")
    if task == "regression" or values.dtype.kind == "f":
        try:
            values = values.astype(float)
        except (TypeError, ValueError) as exc:
            raise ModelOutputError("The model returned predictions that are not numbers.") from exc
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise ModelOutputError(f"The model returned {bad} non-finite prediction(s) (NaN or infinity) out of {n}.")
    if scores is not None:
        scores = np.asarray(scores, dtype=float).reshape(-1)
        if scores.shape[0] != n:
            raise ModelOutputError(f"The model returned {scores.shape[0]} probabilities for {n} rows.")
        # NaN fails both comparisons and infinities fail one: a single pass checks all three.
        if not ((scores >= -1e-6) & (scores <= 1 + 1e-6)).all():
            raise ModelOutputError("The model returned probabilities that are not finite numbers in [0, 1].")
    return Predictions(values=values, scores=scores)


def _onnx_dtype(onnx_type: str):
    return {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(string)": object,
        "tensor(bool)": bool,
    }.get(onnx_type, np.float32)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class NotInWorker(RuntimeError):
    """A submitted model was about to be loaded outside a Celery worker."""


# Set when this process starts as a Celery worker (see apps.py): submitted artifacts are run
# only there, never in the web process, whatever code path asks.
RUNNING_IN_WORKER = False


def load_version(version) -> LoadedModel:
    """Load a ModelVersion's artifact: in a Celery worker only (tests and the bench may allow it)."""
    from django.conf import settings

    if not (RUNNING_IN_WORKER or getattr(settings, "GOVERNANCE_SCORING_OUTSIDE_WORKERS", False)):
        raise NotInWorker("Submitted models are loaded and run only in Celery workers, never in the web process.")
    return LoadedModel(
        fmt=version.format,
        path=blob_path(version.artifact_path),
        features=version.feature_names,
        task=version.model.task,
    )


class DatasetError(Exception):
    """The dataset cannot be used: its typed copy does not match what was recorded at upload."""


def load_dataset(dataset) -> pd.DataFrame:
    """The dataset as ``pd.read_csv`` of its CSV gives it: from its typed copy when it has one.

    The typed copy (made at upload, see governance/registry/typed_copy.py) is checked against the
    SHA-256 recorded on the dataset before it is parsed; a mismatch raises ``DatasetError``
    rather than quietly reading other data. A dataset without one (uploaded before typed copies
    existed, or data the copy cannot hold exactly) is read from its CSV. Writes nothing: the
    worker makes missing copies with ``typed_copy_backfill``.
    """
    from governance.registry import typed_copy

    if dataset.typed_sha256:
        try:
            return typed_copy.load(
                path=blob_path(dataset.typed_path),
                sha256=dataset.typed_sha256,
                csv_sha256=dataset.sha256,
                rows=dataset.rows,
                column_names=dataset.column_names,
            )
        except FileNotFoundError:
            # The CSV is the reviewed original and gives the same frame: read it, but say so.
            logger.warning("The typed copy %s of dataset %s is missing; reading its CSV.", dataset.typed_path, dataset.pk)
        except typed_copy.TypedCopyError as exc:
            raise DatasetError(
                f"The typed copy of dataset '{dataset.name}' ({dataset.typed_path}) cannot be trusted: {exc}. "
                "Nothing was scored on it; an admin should look into the dataset's storage."
            ) from exc
    # Reading every column is faster than usecols= with pandas' C parser (measured).
    return pd.read_csv(blob_path(dataset.path))


def typed_copy_backfill(dataset, frame: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """For a dataset uploaded before typed copies: make its copy from its CSV (or from ``frame``,
    its ``pd.read_csv`` already at hand), record it, and return the frame (None if it had one).

    Race-safe: the file is published without replacing any (typed_copy.store) and the row is only
    updated while no copy is recorded. Any failure is logged: the CSV stays the way to read it.
    Call it from the worker's main thread (it writes the row), not from a check's thread.
    """
    from django.conf import settings

    from django.db import transaction

    from governance.audit.context import current_agent
    from governance.audit.services import agent_event_record
    from governance.registry import typed_copy
    from governance.registry.models import Dataset

    if dataset.typed_sha256:
        return None
    try:
        if frame is None:
            frame = pd.read_csv(blob_path(dataset.path))
        typed = typed_copy.make(frame, csv_sha256=dataset.sha256, csv_size=dataset.size, media_root=settings.MEDIA_ROOT)
        if typed is None:
            return frame
        with transaction.atomic():
            # The row changes by a conditional UPDATE (the race's guard), which auditlog does not
            # see: the trail gets the change as the agent's own event, in the same transaction.
            if Dataset.objects.filter(pk=dataset.pk, typed_sha256="").update(
                typed_path=typed[0], typed_sha256=typed[1]
            ):
                dataset.typed_path, dataset.typed_sha256 = typed
                agent = current_agent()
                agent_event_record(
                    agent_name=agent.agent_name if agent is not None and agent.agent_name else "worker",
                    actor=agent.actor if agent is not None else None,
                    action="dataset.typed_copy_made",
                    summary=f"Made the typed copy of dataset “{dataset.name}” (uploaded before typed copies).",
                    data={"typed_path": typed[0], "typed_sha256": typed[1]},
                    obj=dataset,
                )
    except Exception:  # noqa: BLE001
        logger.exception("Could not make the typed copy of dataset %s", dataset.pk)
    return frame


def production_inputs(model, *, limit: int) -> pd.DataFrame | None:
    """The most recent rows the scoring gateway recorded for the model (not shadow scoring)."""
    from .models import ScoringRecord

    rows: list[dict] = []
    records = ScoringRecord.objects.filter(model=model, shadow=False).order_by("-at", "-id").values_list("inputs", flat=True)
    for inputs in records.iterator(chunk_size=200):
        rows.extend(inputs if isinstance(inputs, list) else [inputs])
        if len(rows) >= limit:
            break
    if not rows:
        return None
    return pd.DataFrame(rows[:limit])


def latency_sample(model: LoadedModel, inputs, *, n: int, batch_rows: int, repeats: int) -> list[float]:
    """Milliseconds for ``repeats`` calls, each on ``batch_rows`` of the n rows of ``inputs``.

    ``inputs`` is already the model's input (``inputs_for``), converted once outside the
    timing: what is timed is the model's call and the check of its output.
    """
    timings: list[float] = []
    if n == 0:
        return timings
    batch_rows = max(1, min(batch_rows, n))
    for i in range(repeats):
        start_row = (i * batch_rows) % n
        if start_row + batch_rows > n:
            start_row = 0
        batch = LoadedModel.slice_inputs(inputs, start_row, start_row + batch_rows)
        start = time.perf_counter()
        model.predict_inputs(batch, batch_rows)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def library_versions() -> dict[str, str]:
    """The versions of the libraries a run used, kept with its evidence."""
    return dict(_library_versions())


@lru_cache(maxsize=1)
def _library_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("numpy", "pandas", "scikit-learn", "onnxruntime", "onnx", "skops", "fairlearn", "celery"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are installed
            versions[package] = "not installed"
    return versions
