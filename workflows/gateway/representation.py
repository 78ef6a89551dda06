"""A trace as the API gives it and the trace page shows it."""

from __future__ import annotations

from workflows.testsuites.models import ScoringRecord

from . import selectors


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _dataset(dataset) -> dict:
    return {"id": dataset.pk, "name": dataset.name, "sha256": dataset.sha256}


def shadow_item(record: ScoringRecord) -> dict:
    return {
        "model_version": record.version.number,
        "artifact_sha256": record.artifact_sha256,
        "outputs": record.outputs,
        "error": record.error,
        "latency_ms": record.latency_ms,
        "at": _iso(record.at),
    }


def trace_summary(record: ScoringRecord, shadow: list[ScoringRecord]) -> dict:
    """One row of a model's traces list."""
    return {
        "trace_id": record.trace_id,
        "model_version": record.version.number,
        "artifact_sha256": record.artifact_sha256,
        "at": _iso(record.at),
        "rows": record.rows,
        "inputs": record.inputs,
        "outputs": record.outputs,
        "latency_ms": record.latency_ms,
        "caller": record.caller.username if record.caller is not None else None,
        "shadow": [shadow_item(item) for item in shadow],
    }


def trace_detail(record: ScoringRecord) -> dict:
    """Everything the trace answers: which version, from which bytes and data, approved by whom,
    champion since when, with what inputs and outputs, and what the challengers said."""
    version = record.version
    approvals = selectors.approvals_of(version)
    history = selectors.champion_history_around(record.model, record.at)
    return {
        "trace_id": record.trace_id,
        "model": record.model.slug,
        "model_version": version.number,
        "artifact_sha256": record.artifact_sha256,
        "training_dataset": _dataset(version.training_dataset),
        "validation_dataset": _dataset(version.validation_dataset),
        "approved_by": [
            {"username": s.signer_username, "name": s.signer_full_name, "meaning": s.meaning, "at": _iso(s.at)}
            for s in approvals
        ],
        "champion_history": [
            {"model_version": p.version_number, "since": _iso(p.since), "until": _iso(p.until), "promoted_by": p.by}
            for p in history
        ],
        "at": _iso(record.at),
        "caller": record.caller.username if record.caller is not None else None,
        "via_token": record.via_token or None,
        "latency_ms": record.latency_ms,
        "rows": record.rows,
        "inputs": record.inputs,
        "outputs": record.outputs,
        "shadow": [shadow_item(item) for item in selectors.shadow_of(record)],
    }
