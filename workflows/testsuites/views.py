"""Pages of the test suites: the suite and its change proposals, and the JSON the version page polls."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.access import permissions
from governance.errors import ActionError, show_refusal
from governance.registry import selectors as registry_selectors
from workflows.lifecycle.policy import effective_risk_tier

from . import checks, selectors, services, suite_diff
from .forms import DecisionForm, SuiteChangeForm, WithdrawForm


@login_required
@require_GET
def version_progress(request, slug: str, number: int):
    """What the version page polls every 2 s while a run is queued or running (404 for outsiders)."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    return JsonResponse(selectors.version_progress(version))


@login_required
@require_http_methods(["GET", "POST"])
def suite_edit(request, slug: str):
    """The suite in force, in words, and its proposals; owners propose a change, validators and
    admins independent of the model save one."""
    model = registry_selectors.model_get(user=request.user, slug=slug)
    current, customised = selectors.suite_config_of(model)
    checker = permissions.checker_for(request.user)  # one read of the user's grants
    may_set = selectors.may_set_suite(request.user, model, checker)
    may_propose = selectors.may_propose_suite(request.user, model, checker)
    form, status = None, 200
    if request.method == "POST":
        if not may_propose:
            raise PermissionDenied("Only the model's owners, its validators and admins change its test suite.")
        form, status = SuiteChangeForm(request.POST), 400
        if form.is_valid():
            values = {"actor": request.user, "model": model, "raw_checks": form.cleaned_data["checks"],
                      "reason": form.cleaned_data["reason"]}
            try:
                if may_set:
                    services.suite_config_set(**values)
                else:
                    proposal = services.suite_change_propose(**values)
            except ActionError as exc:
                status = show_refusal(form, exc)
            else:
                if may_set:
                    messages.success(request, "The test suite is changed; the next test run of each version uses it.")
                    return redirect("testsuites:suite_edit", slug=model.slug)
                messages.success(
                    request, "Your change is proposed. A validator approves it before it applies: "
                    "until then the suite in force is unchanged.",
                )
                return redirect("testsuites:proposal_detail", slug=model.slug, pk=proposal.pk)
    elif may_propose:
        form = SuiteChangeForm(initial={"checks": json.dumps(current, indent=2)})
    context = {
        "model": model,
        "form": form,
        "may_set": may_set,
        "suite_lines": suite_diff.suite_lines(current),
        "customised": customised,
        "proposals": [selectors.proposal_context(request.user, p, checker) for p in selectors.proposals_of(model)],
        "defaults": json.dumps(checks.default_checks(task=model.task, risk_tier=effective_risk_tier(model)), indent=2),
        "kinds": checks.KINDS,
        "metrics": checks.CLASSIFICATION_METRICS if model.task == "classification" else checks.REGRESSION_METRICS,
    }
    return render(request, "testsuites/suite_edit.html", context, status=status)


def _proposal_page(request, model, proposal, *, forms: dict | None = None, refusal: str = "", status: int = 200):
    context = selectors.proposal_context(request.user, proposal)
    context.update(
        refusal=refusal,
        model=model,
        in_force=selectors.suite_config_of(model)[0] == proposal.proposed_checks,
        decide_form=(forms or {}).get("decide") or DecisionForm(),
        withdraw_form=(forms or {}).get("withdraw") or WithdrawForm(),
    )
    return render(request, "testsuites/proposal_detail.html", context, status=status)


@login_required
@require_GET
def proposal_detail(request, slug: str, pk: int):
    """One proposal: the old and the new suite side by side, its reason, status and decision."""
    model = registry_selectors.model_get(user=request.user, slug=slug)
    return _proposal_page(request, model, selectors.proposal_get(model=model, pk=pk))


DECISIONS = {
    "approve": (services.suite_proposal_approve, DecisionForm, "decide",
                "Approved: the suite is changed, and the next test run of each version uses it."),
    "reject": (services.suite_proposal_reject, DecisionForm, "decide", "Rejected: the suite in force is unchanged."),
    "withdraw": (services.suite_proposal_withdraw, WithdrawForm, "withdraw", "Your proposal is withdrawn."),
}


@login_required
@require_POST
def proposal_decide(request, slug: str, pk: int, action: str):
    """Approve, reject or withdraw a proposal; a refusal shows on its page with what was typed."""
    model = registry_selectors.model_get(user=request.user, slug=slug)
    proposal = selectors.proposal_get(model=model, pk=pk)
    service, form_class, form_name, done = DECISIONS[action]
    form = form_class(request.POST)
    status, refusal = 400, ""
    if form.is_valid():
        try:
            service(actor=request.user, proposal=proposal, reason=form.cleaned_data["reason"])
        except ActionError as exc:
            # A missing reason shows by its field; a refusal of the action above the page, since
            # the proposal may no longer offer the form (decided meanwhile, superseded).
            if exc.field in form.fields:
                status = show_refusal(form, exc)
            else:
                status, refusal = exc.status, exc.message
            proposal.refresh_from_db()
        else:
            messages.success(request, done)
            return redirect("testsuites:proposal_detail", slug=model.slug, pk=proposal.pk)
    return _proposal_page(request, model, proposal, forms={form_name: form}, refusal=refusal, status=status)
