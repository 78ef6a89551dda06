"""The drift agent: for each champion, its recent production inputs and scores against its
training data, as PSI per feature and of the scores.

Scheduled hourly (``gateway.drift_check``, CELERY_BEAT_SCHEDULE), it runs on a worker. A champion
with fewer than ``GOVERNANCE_DRIFT_MIN_ROWS`` rows in the last ``GOVERNANCE_DRIFT_WINDOW_HOURS``
is skipped. Every check is kept (``DriftCheck``); one over the model's threshold (``DriftPolicy``,
else ``GOVERNANCE_DRIFT_PSI_THRESHOLD``) is flagged on the model page and, once per window,
annotated on the champion by the ``drift-monitor`` agent, in the same trail as people's notes.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.access.services import service_account_get
from governance.registry.models import ModelVersion, VersionState
from workflows.lifecycle.services import agent_annotation_add
from workflows.notifications.services import drift_flag_notify
from workflows.testsuites import scoring
from workflows.testsuites.checks import psi
from workflows.testsuites.jobs import agent_run_record
from workflows.testsuites.models import AgentRun, ScoringRecord

from . import serving
from .models import DriftCheck, DriftPolicy

DRIFT_AGENT = "drift-monitor"


def drift_threshold(model) -> float:
    policy = DriftPolicy.objects.filter(model=model).values_list("psi_threshold", flat=True).first()
    return policy if policy is not None else settings.GOVERNANCE_DRIFT_PSI_THRESHOLD


def recent_production(version: ModelVersion, *, since) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows this champion answered since ``since`` (newest first, at most
    ``GOVERNANCE_DRIFT_MAX_ROWS``) and the scores it gave them."""
    rows: list[dict] = []
    scores: list = []
    limit = settings.GOVERNANCE_DRIFT_MAX_ROWS
    records = (
        ScoringRecord.objects.filter(model_id=version.model_id, version=version, shadow=False, at__gte=since)
        .order_by("-at", "-id")
        .values_list("inputs", "outputs")
    )
    for inputs, outputs in records.iterator(chunk_size=200):
        rows.extend(inputs)
        scores.extend(outputs.get("probabilities") or outputs.get("predictions") or [])
        if len(rows) >= limit:
            break
    return pd.DataFrame(rows[:limit]), np.asarray(scores[:limit])


def champion_drift_check(version: ModelVersion, *, now=None) -> DriftCheck | None:
    """Check one champion; None when it answered too few rows in the window to judge."""
    now = now or timezone.now()
    hours = settings.GOVERNANCE_DRIFT_WINDOW_HOURS
    frame, scores = recent_production(version, since=now - timedelta(hours=hours))
    if len(frame) < settings.GOVERNANCE_DRIFT_MIN_ROWS:
        return None
    training = scoring.load_dataset(version.training_dataset)
    features = sorted(
        (
            {"name": name, "psi": round(psi(training[name], frame[name]), 4)}
            for name in version.feature_names
            if name in frame.columns and name in training.columns
        ),
        key=lambda item: -item["psi"],
    )
    served = serving.served_version(version.pk, version.artifact_sha256)
    reference = served.loaded.predict(training)
    reference_scores = reference.scores if reference.scores is not None else reference.values
    score_psi = round(psi(pd.Series(reference_scores), pd.Series(scores)), 4) if len(scores) else None
    threshold = drift_threshold(version.model)
    worst = max([feature["psi"] for feature in features] + [score_psi or 0.0])
    drifted = worst > threshold
    with transaction.atomic():
        check = DriftCheck.objects.create(
            model=version.model, version=version, window_hours=hours, rows=len(frame), features=features,
            score_psi=score_psi, threshold=threshold, drifted=drifted,
        )
        already = DriftCheck.objects.filter(
            version=version, drifted=True, annotation__isnull=False, at__gte=now - timedelta(hours=hours)
        ).exclude(pk=check.pk)
        if drifted and not already.exists():
            check.annotation = agent_annotation_add(
                version=version, agent=service_account_get(DRIFT_AGENT), agent_name=DRIFT_AGENT,
                text=drift_summary(check, version),
            )
            check.save(update_fields=["annotation"])
            # Owners and operators hear of the flag in the same transaction, once per flag.
            drift_flag_notify(version=version, summary=check.annotation.text, occasion=str(check.pk))
    return check


def drift_summary(check: DriftCheck, version: ModelVersion) -> str:
    """What drifted and by how much, in words (the annotation's text)."""
    over = [f"{item['name']} {item['psi']:.2f}" for item in check.drifted_features]
    parts = [
        f"Drift over the threshold {check.threshold:.2f} (PSI) in the last {check.window_hours:g} hours of production "
        f"({check.rows} rows answered by version {version.number}) against its training data "
        f"“{version.training_dataset.name}” ({version.training_dataset.sha256[:12]})."
    ]
    if over:
        parts.append(f"Inputs: {', '.join(over)}.")
    if check.score_psi is not None:
        parts.append(
            f"Scores: PSI {check.score_psi:.2f}{' (over the threshold)' if check.score_psi > check.threshold else ''}."
        )
    return " ".join(parts)


def drift_check_all() -> AgentRun:
    """The scheduled run: every champion checked, the run kept and in the audit trail."""
    started = timezone.now()
    checked, flagged, skipped = [], [], []
    champions = ModelVersion.objects.select_related("model", "training_dataset").filter(state=VersionState.CHAMPION)
    for version in champions:
        try:
            check = champion_drift_check(version, now=started)
        except (scoring.ModelLoadError, scoring.ModelOutputError, scoring.DatasetError) as exc:
            skipped.append({"version": str(version), "reason": str(exc)[:300]})
            continue
        if check is None:
            skipped.append({"version": str(version), "reason": "too few recent rows"})
            continue
        checked.append(str(version))
        if check.drifted:
            flagged.append(str(version))
    summary = f"Checked {len(checked)} champion(s) for drift: {len(flagged)} over their threshold."
    return agent_run_record(
        agent_name=DRIFT_AGENT, action="drift_check", summary=summary,
        data={"checked": checked, "flagged": flagged, "skipped": skipped}, started_at=started,
    )


def latest_drift(model) -> DriftCheck | None:
    """The model's latest drift check, for its page."""
    return DriftCheck.objects.filter(model=model).select_related("version").first()
