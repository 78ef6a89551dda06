"""Pages of the test suites: the suite editor and the JSON the version page polls."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from governance.errors import ActionError
from governance.registry import selectors as registry_selectors

from . import checks, selectors, services


@login_required
@require_GET
def version_progress(request, slug: str, number: int):
    """What the version page polls every 2 s while a run is queued or running (404 for outsiders)."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    return JsonResponse(selectors.version_progress(version))


@login_required
@require_http_methods(["GET", "POST"])
def suite_edit(request, slug: str):
    model = registry_selectors.model_get(user=request.user, slug=slug)
    current, customised = selectors.suite_config_of(model)
    if not selectors.can_edit_suite(request.user, model):
        raise PermissionDenied("Only the model's owners and validators with the reviewer grant edit its test suite.")
    text = json.dumps(current, indent=2)
    error = ""
    if request.method == "POST":
        text = request.POST.get("checks", "")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            error = f"The checks are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        else:
            try:
                services.suite_config_update(model=model, raw_checks=raw, user=request.user)
            except ActionError as exc:
                error = exc.message
            else:
                messages.success(request, "The test suite is saved; the next run of each version uses it.")
                return redirect("testsuites:suite_edit", slug=model.slug)
    context = {
        "model": model,
        "text": text,
        "error": error,
        "customised": customised,
        "defaults": json.dumps(checks.default_checks(task=model.task, risk_tier=model.risk_tier), indent=2),
        "kinds": checks.KINDS,
        "metrics": checks.CLASSIFICATION_METRICS if model.task == "classification" else checks.REGRESSION_METRICS,
    }
    return render(request, "testsuites/suite_edit.html", context, status=400 if error else 200)
