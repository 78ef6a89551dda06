"""Reads of test runs, evidence and warm-ups, for the version page, the API and the history.

The callers have already fetched the version through the registry's selectors, which answer
404 to anyone who may not see it; these functions only shape what that version holds.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from django.utils import timezone

from governance.access import permissions
from workflows.lifecycle.history import HistoryEntry
from workflows.lifecycle.models import Finding, FindingStatus
from workflows.lifecycle.policy import effective_risk_tier

from . import charts, checks, evidence, suite_diff
from .jobs import TEST_AGENT, WARMUP_AGENT
from .models import (
    ACTIVE_STATUSES,
    CheckResult,
    ProposalStatus,
    SuiteChangeProposal,
    TestRun,
    TestSuiteConfig,
    WarmupRun,
)


def _runs_with_results():
    return TestRun.objects.prefetch_related(
        Prefetch("results", queryset=CheckResult.objects.order_by("position"))
    ).order_by("sequence")


def api_related(versions):
    """The version API's test runs (with their results) and warm-ups, loaded with the versions
    in three queries whatever their number (``test_runs_of`` and ``latest_warmup_of`` use them)."""
    return versions.prefetch_related(
        Prefetch("test_runs", queryset=_runs_with_results()),
        Prefetch("warmup_runs", queryset=WarmupRun.objects.select_related("champion").order_by("-id")),
    )


def _prefetched(version, name: str):
    return getattr(version, "_prefetched_objects_cache", {}).get(name)


def test_runs_of(version) -> list[TestRun]:
    prefetched = _prefetched(version, "test_runs")
    if prefetched is not None:
        return list(prefetched)
    return list(_runs_with_results().filter(version=version))


def latest_warmup_of(version) -> WarmupRun | None:
    prefetched = _prefetched(version, "warmup_runs")
    if prefetched is not None:
        return max(prefetched, key=lambda run: run.pk, default=None)
    return WarmupRun.objects.filter(version=version).select_related("champion").order_by("-id").first()


def suite_config_of(model) -> tuple[list[dict], bool]:
    """(checks in force, whether they are the model's own rather than its tier's defaults)."""
    config = TestSuiteConfig.objects.filter(model=model).first()
    if config is not None:
        return config.checks, True
    return checks.default_checks(task=model.task, risk_tier=effective_risk_tier(model)), False


# --- Who changes a suite ----------------------------------------------------------------------
# The suite gates the model's versions, so its owners do not set it: they propose a change, and
# a validator independent of the model (the reviewer grant, not an owner) or an admin who does
# not own it approves it. Those independent people change the suite directly.


def _active_person(user) -> bool:
    return bool(user.is_authenticated and user.is_active and not getattr(user, "is_service_account", False))


def may_set_suite(user, model, checker=None) -> bool:
    """Validators with the reviewer grant and admins, unless they own the model.

    ``checker`` (a ``permissions.ModelPermissionChecker`` of the user) lets several questions
    about the same model share one read of the user's grants."""
    if not _active_person(user) or permissions.is_owner(user, model, checker):
        return False
    return user.has_role("admin") or permissions.is_reviewer(user, model, checker)


def may_propose_suite(user, model, checker=None) -> bool:
    """Owners propose changes; so may whoever could make the change directly."""
    if not user.is_authenticated or not user.is_active:
        return False
    return permissions.is_owner(user, model, checker) or may_set_suite(user, model, checker)


def proposal_decision_refusal(user, proposal, checker=None) -> str | None:
    """Why the user may not approve or reject the proposal, or None when they may."""
    if not may_set_suite(user, proposal.model, checker):
        return "Only a validator with the reviewer grant on the model, or an admin, who does not own the model decides a change to its test suite."
    if proposal.proposed_by_id == user.pk:
        return "Nobody decides their own proposal: another validator or an admin does."
    return None


def may_withdraw_proposal(user, proposal) -> bool:
    return bool(user.is_authenticated and user.is_active and proposal.proposed_by_id == user.pk)


def proposals_of(model, *, status: str | None = None) -> list[SuiteChangeProposal]:
    found = SuiteChangeProposal.objects.filter(model=model).select_related("proposed_by", "decided_by", "model")
    if status:
        found = found.filter(status=status)
    return list(found.order_by("-proposed_at", "-id"))


def proposals_to_decide(user) -> list[SuiteChangeProposal]:
    """Pending proposals on models where the user holds the reviewer grant (directly or through
    a group) that the decision rule lets them decide, oldest first."""
    from guardian.shortcuts import get_objects_for_user

    from governance.registry.models import MLModel

    if not _active_person(user) or not user.has_role("validator"):
        return []
    reviewed = get_objects_for_user(user, "registry.review_mlmodel", klass=MLModel, accept_global_perms=False, with_superuser=False)
    pending = (
        SuiteChangeProposal.objects.filter(status=ProposalStatus.PENDING, model__in=reviewed)
        .select_related("proposed_by", "model")
        .order_by("proposed_at", "id")
    )
    return [proposal for proposal in pending if proposal_decision_refusal(user, proposal) is None]


def proposal_get(*, model, pk) -> SuiteChangeProposal:
    """A proposal of a model the caller may already see (the registry's selectors answered 404
    otherwise); a proposal of another model is 404 too."""
    try:
        return SuiteChangeProposal.objects.select_related("proposed_by", "decided_by", "model").get(model=model, pk=pk)
    except (SuiteChangeProposal.DoesNotExist, ValueError, TypeError):
        raise Http404("No such proposal.") from None


def proposal_context(user, proposal, checker=None) -> dict:
    """What a page shows of one proposal: its diff and what the user may do with it."""
    pending = proposal.status == ProposalStatus.PENDING
    return {
        "proposal": proposal,
        "diff": suite_diff.suite_diff(proposal.base_checks, proposal.proposed_checks),
        "can_decide": pending and proposal_decision_refusal(user, proposal, checker) is None,
        "can_withdraw": pending and may_withdraw_proposal(user, proposal),
    }


def proposal_data(proposal) -> dict:
    """A proposal as the API shows it: both suites, the changes in words, and its decision."""
    return {
        "id": proposal.pk,
        "model": proposal.model.slug,
        "status": proposal.status,
        "reason": proposal.reason,
        "proposed_by": proposal.proposed_by.username,
        "proposed_at": _iso(proposal.proposed_at),
        "base_checks": proposal.base_checks,
        "proposed_checks": proposal.proposed_checks,
        "changes": [
            row.summary for row in suite_diff.suite_diff(proposal.base_checks, proposal.proposed_checks)
            if row.status != "unchanged"
        ],
        "decided_by": proposal.decided_by.username if proposal.decided_by_id else None,
        "decided_at": _iso(proposal.decided_at),
        "decision_reason": proposal.decision_reason,
    }


def model_suite_panel_context(request, model) -> dict:
    """The model page's panel: the suite in force in words and the pending proposals."""
    current, customised = suite_config_of(model)
    user = request.user
    # One read of the user's grants on the model answers every question below.
    checker = permissions.checker_for(user) if user.is_authenticated else None
    return {
        "model": model,
        "suite_lines": suite_diff.suite_lines(current),
        "customised": customised,
        "pending": [proposal_context(user, p, checker) for p in proposals_of(model, status=ProposalStatus.PENDING)],
        "can_edit_suite": may_propose_suite(user, model, checker),
        "may_set_suite": may_set_suite(user, model, checker),
    }


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def run_progress(run: TestRun) -> dict:
    return {
        "sequence": run.sequence,
        "status": run.status,
        "attempt": run.attempt,
        "checks_total": run.checks_planned,
        "checks_done": run.checks_done,
        "current_check": run.current_check,
        "current_check_title": evidence.title_of_name(run.current_check),
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }


RESULT_FIELDS = ("name", "kind", "measured", "threshold", "comparison", "outcome", "duration_ms", "details")


def result_data(result: CheckResult) -> dict:
    """One check's evidence: its fields in this order, the duration rounded to the microsecond."""
    data = {name: getattr(result, name) for name in RESULT_FIELDS}
    data["duration_ms"] = round(result.duration_ms, 3)  # keeps its place in the order
    return data


def test_runs_api(version, request=None) -> list[dict]:
    """The version API's ``test_runs``: every run with its evidence, oldest first."""
    return [
        {
            **run_progress(run),
            "worker": run.worker,
            "error": run.error,
            "library_versions": run.library_versions,
            "config": run.config_snapshot,
            "results": [result_data(r) for r in run.results.all()],
            # The data behind the run's charts (empty for runs made before charts existed).
            "charts": run.charts,
        }
        for run in test_runs_of(version)
    ]


def warmup_data(run: WarmupRun) -> dict:
    return {
        "status": run.status,
        "attempt": run.attempt,
        "source": run.source,
        "champion": run.champion.number if run.champion_id else None,
        "rows": run.rows,
        "errors": run.errors,
        "agreement": run.agreement,
        "diff_distribution": run.diff_distribution,
        "psi": run.psi,
        "latency": {k: v for k, v in run.latency.items() if k in ("new", "champion")},
        "largest_disagreements": run.largest_disagreements,
        "policy": run.policy,
        "reasons": run.outcome_reasons,
        "error": run.error,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }


def warmup_api(version, request=None) -> dict | None:
    """The version API's ``warmup``: the latest warm-up report, or null."""
    run = latest_warmup_of(version)
    return warmup_data(run) if run else None


def version_progress(version) -> dict:
    """What the version page polls while a run is queued or running."""
    runs = list(TestRun.objects.filter(version=version).order_by("-sequence")[:1])
    warmup = latest_warmup_of(version)
    active = bool(runs and runs[0].status in ACTIVE_STATUSES) or bool(warmup and warmup.status in ACTIVE_STATUSES)
    return {
        "state": version.state,
        "active": active,
        "test_run": run_progress(runs[0]) if runs else None,
        "warmup": {"status": warmup.status, "attempt": warmup.attempt} if warmup else None,
    }


def version_panel_context(request, version) -> dict:
    runs = test_runs_of(version)
    warmup = latest_warmup_of(version)
    latest = runs[-1] if runs else None
    progress = version_progress(version)
    for run in runs:
        if not run.is_active:
            run.check_views = [evidence.check_view(result) for result in run.results.all()]
            run.evidence_charts = charts.run_evidence_charts(run)
    finished_warmup = warmup if warmup and warmup.status not in ACTIVE_STATUSES else None
    return {
        "version": version,
        "runs": list(reversed(runs)),
        "latest_run": latest,
        "warmup": warmup,
        "warmup_charts": charts.warmup_charts(warmup) if finished_warmup else None,
        "warmup_words": evidence.warmup_view(finished_warmup) if finished_warmup else None,
        "active": progress["active"],
        "can_edit_suite": may_propose_suite(request.user, version.model) if request is not None else False,
    }


def history_entries(version) -> list[HistoryEntry]:
    """Test runs and warm-ups as entries of the version's history (kinds test_run and warmup)."""
    runs = TestRun.objects.filter(version=version).prefetch_related("results").order_by("sequence")
    warmups = WarmupRun.objects.filter(version=version).order_by("id")
    entries = [_job_entry(run, "test_run", TEST_AGENT, "test run", _run_summary(run)) for run in runs]
    entries += [_job_entry(run, "warmup", WARMUP_AGENT, "warm-up", _warmup_line(run)) for run in warmups]
    return sorted(entries, key=lambda entry: entry.at)


def _job_entry(job, kind: str, agent_name: str, title: str, annotation: str) -> HistoryEntry:
    return HistoryEntry(
        kind=kind,
        at=job.finished_at or job.started_at or job.queued_at,
        actor=None,
        actor_kind="agent",
        agent_name=agent_name,
        annotation=annotation,
        title=title,
    )


def _run_summary(run: TestRun) -> str:
    if run.status in ACTIVE_STATUSES:
        return f"Test run {run.sequence} {run.status} ({run.checks_done} of {run.checks_planned} checks done)."
    if run.status == "errored":
        return f"Test run {run.sequence} errored: {run.error}."
    results = list(run.results.all())
    failing = [r.name for r in results if r.outcome != "passed"]
    text = f"Test run {run.sequence} {run.status}: {len(results) - len(failing)} of {len(results)} checks passed"
    return text + (f"; failing: {', '.join(failing)}." if failing else ".")


def _warmup_line(run: WarmupRun) -> str:
    if run.status in ACTIVE_STATUSES:
        return f"Warm-up {run.status}."
    if run.status == "errored":
        return f"Warm-up errored: {run.error}."
    return f"Warm-up {run.status} on {run.rows} rows of {run.get_source_display().lower()}" + (f": {'; '.join(run.outcome_reasons)}." if run.outcome_reasons else ".")


def open_findings_of(version) -> list:
    """The version's open findings and conditions, conditions first, the earliest due first."""
    findings = Finding.objects.filter(version=version, status=FindingStatus.OPEN).select_related("owner", "raised_by")
    return sorted(findings, key=lambda f: (f.kind != "condition", f.due is None, f.due or f.raised_at.date(), f.pk))


def evidence_summary(version) -> dict:
    """What a reviewer signs on: the latest finished test run's checks in words, the warm-up
    against the champion, the open findings and conditions, and the charts of that run."""
    runs = test_runs_of(version)
    finished = [run for run in runs if not run.is_active]
    run = finished[-1] if finished else None
    warmup = latest_warmup_of(version)
    # An active or errored warm-up has no report to show; the template says which it is.
    warmup_shown = None if warmup is None or warmup.status in ACTIVE_STATUSES + ["errored"] else warmup
    today = timezone.localdate()
    findings = [
        {"finding": f, "overdue": bool(f.due and f.due < today)}
        for f in open_findings_of(version)
    ]
    return {
        "version": version,
        "run": run,
        "running": runs[-1] if runs and runs[-1].is_active else None,
        "checks": [evidence.check_view(result) for result in run.results.all()] if run else [],
        "failed_checks": sum(1 for result in run.results.all() if result.outcome != "passed") if run else 0,
        "warmup_run": warmup,
        "warmup": evidence.warmup_view(warmup_shown) if warmup_shown else None,
        "findings": findings,
        "charts": charts.run_evidence_charts(run) if run else None,
    }
