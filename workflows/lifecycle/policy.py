"""Approval policy: how many approvals each risk tier needs.

Defaults come from API.md (low 1, medium 1, high 2, critical 3); admins change them in the
Django admin (the ApprovalPolicy model, added with sign-offs).
"""

DEFAULT_REQUIRED_APPROVALS = {"low": 1, "medium": 1, "high": 2, "critical": 3}


def required_approvals(risk_tier: str) -> int:
    return DEFAULT_REQUIRED_APPROVALS[risk_tier]


def policy_snapshot(risk_tier: str) -> dict:
    return {"risk_tier": risk_tier, "required_approvals": required_approvals(risk_tier)}
