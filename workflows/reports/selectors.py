"""Reads behind the compliance reports: what a version report, the inventory and the period
report hold, taken from the records of the registry, the lifecycle, the test suites and the trail.

The callers have fetched the version or decided who may read through the registry's selectors
(404 for what the user may not see); these functions only gather and shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from governance.access.selectors import owner_users
from governance.audit.hashing import canonical_time
from governance.audit.models import HASHED_FIELDS, AuditEvent, EventKind
from governance.registry.models import ModelVersion, VersionState
from governance.registry.selectors import champion_of, models_visible_to
from workflows.lifecycle.history import version_history
from workflows.lifecycle.models import Decision, Finding, FindingKind, FindingStatus, SignOff
from workflows.lifecycle.policy import effective_risk_tier, required_approvals
from workflows.notifications.services import review_due_at
from workflows.testsuites import charts, evidence
from workflows.testsuites.models import ACTIVE_STATUSES, CheckOutcome, ScoringRecord, WarmupSource
from workflows.testsuites.selectors import latest_warmup_of, test_runs_of

# Entries that record a look, a download or a sign-in rather than a change: left out of the anchor.
NOT_ANCHORING = (EventKind.ACCESS, EventKind.LOGIN)
ANCHOR_KEY = re.compile(r"^(\d{12})-([0-9a-f]{16})$")


@dataclass(frozen=True)
class ChainAnchor:
    """The audit chain head a report is made at: the trail's last entry that records a change,
    a decision or a job. Looks, downloads and sign-ins are left out, so that reading the portal
    (reading a report included) does not make the next look a different report. The hash of
    entry ``seq`` covers every entry before it, so a printed copy is checked against the trail
    by that one entry."""

    seq: int
    hash: str

    @property
    def key(self) -> str:
        return f"{self.seq:012d}-{self.hash[:16]}"


def chain_anchor() -> ChainAnchor:
    # The newest entry of each anchoring kind, one lookup of the (kind, seq) index each: however
    # many looks followed the last change, none of them is read.
    heads = [
        AuditEvent.objects.filter(kind=kind, seq__gt=0).order_by("-seq").values_list("seq", "hash").first()
        for kind in EventKind.values
        if kind not in NOT_ANCHORING
    ]
    found = [head for head in heads if head is not None]
    return ChainAnchor(*max(found)) if found else ChainAnchor(0, "0" * 64)


def anchor_from_key(key: str) -> ChainAnchor | None:
    """The anchor a built report's key names, if that entry is in the trail with that hash."""
    match = ANCHOR_KEY.match(key or "")
    if match is None:
        return None
    seq = int(match.group(1))
    found = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
    if found is None or not found.startswith(match.group(2)):
        return None
    return ChainAnchor(seq, found)


def utc(value: datetime | None) -> str:
    """A time as every report prints it: ``2026-11-27 18:20:31 UTC``."""
    if value is None:
        return ""
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- The version report -----------------------------------------------------------------------


def identity_of(version: ModelVersion) -> dict:
    model = version.model
    owners = owner_users(model=model).order_by("username")
    return {
        "model": model,
        "owners": [owner.display_name for owner in owners],
        "tier_in_force": effective_risk_tier(model),
        "risk_tier_confirmed_by": model.risk_tier_confirmed_by.display_name if model.risk_tier_confirmed_by else "",
        "required_approvals": required_approvals(effective_risk_tier(model)),
    }


def lineage_of(version: ModelVersion) -> list[tuple[str, object]]:
    return [("Training", version.training_dataset), ("Validation", version.validation_dataset)]


def evidence_charts_of(run) -> list:
    """A test run's evidence charts (ROC and precision-recall curves, confusion matrix and
    calibration; residuals and predicted against actual; metric per group), drawn from
    ``TestRun.charts`` by the same functions as the version page, each ``{"title", "svg"}`` with
    the SVG safe to insert; the report's ``evidence_charts`` block shows them under the run's
    checks. A run without chart data has none."""
    return [{"title": title, "svg": svg} for title, svg in charts.run_evidence_charts(run)["figures"] if svg]


def test_evidence_of(version: ModelVersion) -> list[dict]:
    """Every test run, oldest first, with its checks (value, threshold, outcome)."""
    evidence_runs = []
    for run in test_runs_of(version):
        results = list(run.results.all())
        evidence_runs.append({
            "run": run,
            "results": results,
            # Each check as the version page reads it: its name, value, threshold and outcome in words.
            "checks": [evidence.check_view(result) for result in results],
            "charts": evidence_charts_of(run),
        })
    return evidence_runs


def warmup_of(version: ModelVersion) -> dict | None:
    run = latest_warmup_of(version)
    if run is None:
        return None
    finished = run.status not in ACTIVE_STATUSES
    return {
        "run": run,
        "on_validation_data": run.source == WarmupSource.VALIDATION,
        "charts": charts.warmup_charts(run) if finished else None,
    }


def findings_of(version: ModelVersion) -> list[Finding]:
    """Conditions and findings raised on the version, with who raised and closed them."""
    return list(
        Finding.objects.filter(version=version)
        .select_related("raised_by", "closed_by", "owner", "signoff")
        .order_by("raised_at", "id")
    )


def signature_manifest_of(version: ModelVersion) -> list[dict]:
    """Each sign-off as 21 CFR Part 11 §11.50 asks: printed name, date and time, meaning; with
    the decision, the artifact hash signed (and whether it is the version's) and the annotation."""
    signoffs = SignOff.objects.filter(version=version).prefetch_related("findings").order_by("at", "id")
    return [
        {
            "signoff": signoff,
            "at": utc(signoff.at),
            "hash_matches": signoff.artifact_sha256 == version.artifact_sha256,
        }
        for signoff in signoffs
    ]


def standing_of(version: ModelVersion) -> dict:
    """Where the version stands against the model's champion now."""
    champion = champion_of(version.model)
    warmup = latest_warmup_of(version)
    regressions = []
    runs = test_runs_of(version)
    if runs:
        regressions = [result for result in runs[-1].results.all() if result.kind == "no_regression"]
    if champion is None:
        summary = "The model has no champion."
    elif champion.pk == version.pk:
        summary = f"This version is the champion, since {utc(version.state_changed_at)}."
    else:
        summary = f"The champion is version {champion.number}, since {utc(champion.state_changed_at)}."
    return {
        "champion": champion,
        "is_champion": champion is not None and champion.pk == version.pk,
        "summary": summary,
        "warmup": warmup,
        "regressions": regressions,
    }


def usage_of(version: ModelVersion) -> dict:
    """Predictions the version served in production (and scored in shadow), from when to when."""
    rows = ScoringRecord.objects.filter(version=version).aggregate(
        served=Count("id", filter=Q(shadow=False)),
        first=Min("at", filter=Q(shadow=False)),
        last=Max("at", filter=Q(shadow=False)),
        shadow_count=Count("id", filter=Q(shadow=True)),
        shadow_first=Min("at", filter=Q(shadow=True)),
        shadow_last=Max("at", filter=Q(shadow=True)),
    )
    return rows


def version_audit_entries(version: ModelVersion, anchor: ChainAnchor):
    """The trail's entries about the version, up to the anchor, oldest first."""
    return AuditEvent.objects.filter(
        model_slug=version.model.slug, version_number=version.number, seq__gt=0, seq__lte=anchor.seq
    ).order_by("seq")


# What a reviewer of the report looks for, and the section holding its evidence.
STANDARDS = [
    ("US model-risk guidance (SR 11-7 / OCC 2011-12)", "Model inventory", "Identity; the portal's inventory",
     ["identity"]),
    ("US model-risk guidance (SR 11-7 / OCC 2011-12)", "Independent validation",
     "Test-suite evidence run by workers; sign-offs by reviewers who are not its authors",
     ["evidence", "signatures"]),
    ("US model-risk guidance (SR 11-7 / OCC 2011-12)", "Effective challenge",
     "Findings and conditions, rejections and requests for changes, with their annotations",
     ["findings", "signatures", "history"]),
    ("US model-risk guidance (SR 11-7 / OCC 2011-12)", "Ongoing monitoring",
     "Warm-up against the champion; usage in production", ["warmup", "standing"]),
    ("US model-risk guidance (SR 11-7 / OCC 2011-12)", "Periodic review",
     "History (periodic-review notes of the scheduler); the portal's inventory", ["history"]),
    ("EU AI Act, Annex IV", "Technical documentation: purpose, design, data, validation",
     "Identity, lineage (artifact and data sets with their hashes), test-suite evidence",
     ["identity", "lineage", "evidence"]),
    ("EU AI Act, Art. 12", "Record-keeping (automatic logs)",
     "History; audit trail entries of the version; chain head on every page", ["history", "audit"]),
    ("ISO/IEC 42001", "Event logs of the AI system's life cycle",
     "History with human and agent actors; audit trail entries", ["history", "audit"]),
    ("21 CFR Part 11", "§11.50 signature manifestations: printed name, date and time, meaning",
     "Signature manifest", ["signatures"]),
    ("21 CFR Part 11", "§11.70 signature/record linking", "Artifact hash signed, beside the version's",
     ["signatures", "lineage"]),
    ("21 CFR Part 11", "§11.10(e) audit trail", "Audit trail entries, anchored by the chain head",
     ["audit", "history"]),
]

SECTION_TITLES = {
    "identity": "1. Identity",
    "lineage": "2. Lineage",
    "evidence": "3. Test-suite evidence",
    "warmup": "4. Warm-up",
    "findings": "5. Findings and conditions",
    "signatures": "6. Signature manifest",
    "history": "7. History",
    "standing": "8. Standing and usage",
    "audit": "9. Audit trail entries",
}


def standards_mapping() -> list[dict]:
    return [
        {"framework": framework, "requirement": requirement, "evidence": evidence,
         "sections": [(anchor, SECTION_TITLES[anchor]) for anchor in anchors]}
        for framework, requirement, evidence, anchors in STANDARDS
    ]


def version_report_context(version: ModelVersion, *, anchor: ChainAnchor, generated_by, generated_at) -> dict:
    return {
        "version": version,
        "model": version.model,
        "identity": identity_of(version),
        "lineage": lineage_of(version),
        "evidence": test_evidence_of(version),
        "warmup": warmup_of(version),
        "findings": findings_of(version),
        "signatures": signature_manifest_of(version),
        "history": version_history(version),
        "standing": standing_of(version),
        "usage": usage_of(version),
        "audit_entries": list(version_audit_entries(version, anchor)),
        "standards": standards_mapping(),
        "sections": SECTION_TITLES,
        "anchor": anchor,
        "generated_by": generated_by.display_name,
        "generated_by_username": generated_by.get_username(),
        "generated_at": utc(generated_at),
        "title": f"{version.model.name}, version {version.number}",
    }


# --- The records of an evidence pack ----------------------------------------------------------


def audit_entry_record(event: AuditEvent) -> dict:
    """An entry as its hashed fields (the time canonical) and its hash: enough to recompute it."""
    record = {name: getattr(event, name) for name in HASHED_FIELDS}
    record["at"] = canonical_time(event.at)
    record["hash"] = event.hash
    return record


def _dataset_record(dataset) -> dict:
    return {"name": dataset.name, "sha256": dataset.sha256, "rows": dataset.rows, "size": dataset.size,
            "columns": dataset.columns, "target": dataset.target}


def version_records(version: ModelVersion, anchor: ChainAnchor) -> dict:
    """Everything the version report is made of, as plain data."""
    from workflows.testsuites.selectors import result_data, warmup_data

    model = version.model
    warmup = latest_warmup_of(version)
    return {
        "model": {"slug": model.slug, "name": model.name, "description": model.description, "task": model.task,
                  "risk_tier": model.risk_tier, "risk_tier_status": model.risk_tier_status,
                  "owners": [user.username for user in owner_users(model=model).order_by("username")]},
        "version": {"number": version.number, "state": version.state, "artifact_sha256": version.artifact_sha256,
                    "artifact_size": version.artifact_size, "format": version.format,
                    "code_repository": version.code_repository, "code_commit": version.code_commit,
                    "submitted_by": version.submitted_by.username, "created_at": canonical_time(version.created_at),
                    "input_schema": version.input_schema},
        "datasets": {"training": _dataset_record(version.training_dataset),
                     "validation": _dataset_record(version.validation_dataset)},
        "evidence": [
            {"sequence": item["run"].sequence, "status": item["run"].status, "config": item["run"].config_snapshot,
             "results": [result_data(result) for result in item["results"]]}
            for item in test_evidence_of(version)
        ],
        "warmup": warmup_data(warmup) if warmup else None,
        "signoffs": [
            {"signer": item["signoff"].signer_username, "printed_name": item["signoff"].signer_full_name,
             "at": canonical_time(item["signoff"].at), "decision": item["signoff"].decision,
             "meaning": item["signoff"].meaning, "artifact_sha256": item["signoff"].artifact_sha256,
             "annotation": item["signoff"].annotation, "with_mfa": item["signoff"].with_mfa}
            for item in signature_manifest_of(version)
        ],
        "findings": [
            {"kind": f.kind, "description": f.description, "severity": f.severity, "status": f.status,
             "due": f.due.isoformat() if f.due else None, "raised_by": f.raised_by.username,
             "closed_by": f.closed_by.username if f.closed_by else None}
            for f in findings_of(version)
        ],
        "history": [
            {**entry.as_api(), "at": canonical_time(entry.at)} for entry in version_history(version)
        ],
        "usage": {key: canonical_time(value) if isinstance(value, datetime) else value
                  for key, value in usage_of(version).items()},
        "audit_entries": [audit_entry_record(event) for event in version_audit_entries(version, anchor)],
    }


# --- The inventory ----------------------------------------------------------------------------


def inventory_rows(*, user) -> list[dict]:
    """One row per model the user may see: owners, tier, champion and since when, last
    validation, next periodic review, open reviews and drift flags."""
    from workflows.testsuites.models import CheckResult

    now = timezone.now()
    rows = []
    models = models_visible_to(user).select_related("risk_tier_confirmed_by").order_by("name", "pk")
    for model in models:
        champion = champion_of(model)
        last_validation = (
            SignOff.objects.filter(version__model=model, decision=Decision.APPROVE).order_by("-at").values_list("at", flat=True).first()
        )
        next_review = None
        if champion is not None:
            # The latest due date that has passed, else the first one to come.
            days = settings.GOVERNANCE_REVIEW_INTERVAL_DAYS[effective_risk_tier(model)]
            next_review = review_due_at(champion, now) or champion.state_changed_at + timedelta(days=days)
        drift = []
        if champion is not None:
            latest = champion.test_runs.order_by("-sequence").first()
            if latest is not None:
                drift = list(
                    CheckResult.objects.filter(run=latest, kind="drift", outcome=CheckOutcome.FAILED).values_list("name", flat=True)
                )
        rows.append(
            {
                "model": model,
                "owners": [owner.display_name for owner in owner_users(model=model).order_by("username")],
                "risk_tier": model.get_risk_tier_display(),
                "risk_tier_status": model.get_risk_tier_status_display(),
                "champion": champion.number if champion else None,
                "champion_since": utc(champion.state_changed_at) if champion else "",
                "last_validation": utc(last_validation),
                "next_review": utc(next_review),
                "review_overdue": bool(next_review and next_review < now),
                "open_reviews": model.versions.filter(state=VersionState.IN_REVIEW).count(),
                "drift_flags": drift,
            }
        )
    return rows


INVENTORY_COLUMNS = [
    ("Model", lambda row: row["model"].name),
    ("Slug", lambda row: row["model"].slug),
    ("Owners", lambda row: "; ".join(row["owners"])),
    ("Risk tier", lambda row: row["risk_tier"]),
    ("Risk tier status", lambda row: row["risk_tier_status"]),
    ("Champion", lambda row: f"v{row['champion']}" if row["champion"] else ""),
    ("Champion since", lambda row: row["champion_since"]),
    ("Last validation", lambda row: row["last_validation"]),
    ("Next periodic review", lambda row: row["next_review"]),
    ("Open reviews", lambda row: row["open_reviews"]),
    ("Drift flags", lambda row: "; ".join(row["drift_flags"])),
]


# --- The period report ------------------------------------------------------------------------

SENSITIVE_ACCESS = ("artifact.downloaded", "dataset.downloaded", "report.", "audit.exported")


def period_report_context(*, user, since: datetime, until: datetime) -> dict:
    """What happened between ``since`` (included) and ``until`` (excluded) on the models the
    user may see, and whether the trail verifies."""
    from governance.audit.verification import chain_verify
    from workflows.lifecycle.models import TransitionRecord
    from workflows.testsuites.models import ReviewReminder

    models = models_visible_to(user)
    transitions = TransitionRecord.objects.filter(version__model__in=models, at__gte=since, at__lt=until).select_related(
        "version__model", "actor"
    )
    promoted = transitions.filter(to_state=VersionState.CHAMPION).order_by("at", "id")
    retired = transitions.filter(to_state=VersionState.RETIRED).order_by("at", "id")
    signoffs = (
        SignOff.objects.filter(version__model__in=models, at__gte=since, at__lt=until)
        .select_related("version__model")
        .prefetch_related("findings")
        .order_by("at", "id")
    )
    overdue = ReviewReminder.objects.filter(version__model__in=models, due_at__lt=until).select_related(
        "version__model"
    ).order_by("due_at")
    overdue = [reminder for reminder in overdue if reminder.version.state == VersionState.CHAMPION or reminder.due_at >= since]
    slugs = list(models.values_list("slug", flat=True))
    sensitive = Q()
    for action in SENSITIVE_ACCESS:
        sensitive |= Q(action__startswith=action)
    access = AuditEvent.objects.filter(kind=EventKind.ACCESS, at__gte=since, at__lt=until, seq__gt=0).filter(sensitive)
    access = access.filter(Q(model_slug__in=slugs) | Q(model_slug=""))
    in_range = AuditEvent.objects.filter(at__gte=since, at__lt=until, seq__gt=0)
    bounds = in_range.aggregate(first=Min("seq"), last=Max("seq"), count=Count("seq"))
    verification = chain_verify()
    bad = verification.first_bad
    return {
        "since": utc(since),
        "until": utc(until),
        "since_date": since.date(),
        "until_date": (until - timedelta(days=1)).date(),
        "promoted": list(promoted),
        "retired": list(retired),
        "signoffs": [s for s in signoffs if s.decision == Decision.APPROVE],
        "rejections": [s for s in signoffs if s.decision != Decision.APPROVE],
        "overdue": overdue,
        "open_conditions_overdue": list(
            Finding.objects.filter(version__model__in=models, kind=FindingKind.CONDITION, status=FindingStatus.OPEN,
                                   due__lt=until.date()).select_related("version__model").order_by("due")
        ),
        "access": list(access.order_by("seq")[:500]),
        "access_count": access.count(),
        "chain": {
            "ok": verification.ok,
            "checked": verification.checked,
            "head": verification.head,
            "range_first": bounds["first"],
            "range_last": bounds["last"],
            "range_count": bounds["count"],
            "bad_in_range": bool(bad and bounds["first"] and bounds["first"] <= bad.seq <= (bounds["last"] or 0)),
            "first_bad": bad,
        },
        "model_count": len(slugs),
    }
