"""Approval policy: how many approvals each risk tier needs, and how long a challenger shadows
the champion before it may replace it.

Admins change the numbers in the Django admin (``ApprovalPolicy``, audited by auditlog); a tier
without a row falls back to the defaults (low 1, medium 1, high 2, critical 3 approvals; the
shadow minimums in ``DEFAULT_MIN_SHADOW``).
"""

from __future__ import annotations

DEFAULT_REQUIRED_APPROVALS = {"low": 1, "medium": 1, "high": 2, "critical": 3}
# How long, and on how many requests, a challenger shadows the champion before it may replace it.
DEFAULT_MIN_SHADOW = {
    "low": {"min_shadow_hours": 24, "min_shadow_requests": 100},
    "medium": {"min_shadow_hours": 72, "min_shadow_requests": 500},
    "high": {"min_shadow_hours": 168, "min_shadow_requests": 1000},
    "critical": {"min_shadow_hours": 336, "min_shadow_requests": 2000},
}


def effective_risk_tier(model) -> str:
    """The tier the rules apply to a model: its tier once a validator or admin has confirmed it;
    while it is only the owner's proposal, ``high`` (or ``critical`` if that was proposed)."""
    return model.effective_risk_tier


def policy_table() -> dict[str, int]:
    """Every tier's number in force, in one query."""
    from .models import ApprovalPolicy

    table = dict(DEFAULT_REQUIRED_APPROVALS)
    table.update(ApprovalPolicy.objects.values_list("risk_tier", "required_approvals"))
    return table


def required_approvals(risk_tier: str, table: dict[str, int] | None = None) -> int:
    """The quorum's one definition: approvals a version of a model in this tier needs now.

    Pass ``table`` (from ``policy_table``) when deciding for many versions at once.
    """
    if table is not None:
        return table[risk_tier]
    from .models import ApprovalPolicy

    number = ApprovalPolicy.objects.filter(risk_tier=risk_tier).values_list("required_approvals", flat=True).first()
    return number if number is not None else DEFAULT_REQUIRED_APPROVALS[risk_tier]


def shadow_minimums(risk_tier: str) -> dict[str, int]:
    """How long (hours) and on how many requests a challenger of a model in this tier shadows the
    champion before it may replace it: ``{"min_shadow_hours", "min_shadow_requests"}``."""
    from .models import ApprovalPolicy

    row = (
        ApprovalPolicy.objects.filter(risk_tier=risk_tier)
        .values("min_shadow_hours", "min_shadow_requests")
        .first()
    )
    return row or dict(DEFAULT_MIN_SHADOW[risk_tier])


def policy_snapshot(risk_tier: str) -> dict:
    """What is recorded with each decision: the tier and the number of approvals it needed."""
    return {"risk_tier": risk_tier, "required_approvals": required_approvals(risk_tier)}


# The tiers from least to most strict, to take the stricter of two.
TIER_ORDER = ("low", "medium", "high", "critical")


def submission_snapshot(model) -> dict:
    """What a submit records: the tier the version is submitted under (the model's effective
    tier: a proposed tier counts as high, or critical) and its number now, with the tier as it
    stood (``model_risk_tier``, ``risk_tier_status``). The version keeps this tier until it is
    decided, whatever happens to the model's tier meanwhile."""
    tier = effective_risk_tier(model)
    return {**policy_snapshot(tier), "model_risk_tier": model.risk_tier, "risk_tier_status": model.risk_tier_status}


def tier_from_submission(snapshot: dict | None, model) -> str:
    """The tier a version was submitted under, from its submit record's snapshot.

    A snapshot with ``risk_tier_status`` names the effective tier it was submitted under. An
    older one (recorded before tiers were confirmed) names the owner's own choice, so the
    version counts in the stricter of that and the model's effective tier now; a version with
    no submit record at all counts in the model's effective tier now.
    """
    if not snapshot or snapshot.get("risk_tier") not in TIER_ORDER:
        return effective_risk_tier(model)
    if "risk_tier_status" in snapshot:
        return snapshot["risk_tier"]
    return max(snapshot["risk_tier"], effective_risk_tier(model), key=TIER_ORDER.index)


def submission_snapshots(version_ids) -> dict:
    """{version id: its latest submit record's policy snapshot}, in one query."""
    from .models import TransitionRecord

    found: dict = {}
    records = TransitionRecord.objects.filter(version_id__in=list(version_ids), name="submit").order_by("at", "pk")
    for version_id, snapshot in records.values_list("version_id", "policy"):
        found[version_id] = snapshot
    return found


def model_submission_snapshots(model_id) -> dict:
    """``submission_snapshots`` of every version of a model, in one query."""
    from .models import TransitionRecord

    found: dict = {}
    records = TransitionRecord.objects.filter(version__model_id=model_id, name="submit").order_by("at", "pk")
    for version_id, snapshot in records.values_list("version_id", "policy"):
        found[version_id] = snapshot
    return found


def submitted_tier(version, snapshots: dict | None = None) -> str:
    """The tier whose quorum the version needs: the one it was submitted under (see
    ``tier_from_submission``); a version not submitted yet would be submitted under the
    model's effective tier now. ``snapshots`` (from ``submission_snapshots``) decides many
    versions without a query each."""
    if snapshots is None:
        snapshots = submission_snapshots([version.pk])
    return tier_from_submission(snapshots.get(version.pk), version.model)


def version_policy(version, snapshots: dict | None = None, table: dict[str, int] | None = None) -> dict:
    """The policy the version is decided under: its submitted tier and that tier's number in force."""
    tier = submitted_tier(version, snapshots)
    return {"risk_tier": tier, "required_approvals": required_approvals(tier, table)}


def approval_policies_ensure(*, policy_model=None) -> None:
    """Create the default policy rows where a tier has none (idempotent; admins' numbers stay).

    Run by migration 0003 (with its historical model) and after every ``migrate`` or test
    flush (``post_migrate``).
    """
    if policy_model is None:
        from .models import ApprovalPolicy as policy_model
    # Migration 0003's historical model predates the shadow minimums (added, with their defaults, by 0006).
    fields = {field.name for field in policy_model._meta.get_fields()}
    for tier, number in DEFAULT_REQUIRED_APPROVALS.items():
        shadow = {key: value for key, value in DEFAULT_MIN_SHADOW[tier].items() if key in fields}
        policy_model.objects.get_or_create(risk_tier=tier, defaults={"required_approvals": number, **shadow})
