"""Pages of the gateway: a model's traces by time range, one trace, and the live comparison of
its champion and challengers."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from rest_framework.request import Request

from governance.audit.services import access_record
from governance.errors import ActionError
from governance.registry import selectors as registry_selectors
from workflows.testsuites import charts

from . import comparison as live
from . import selectors
from .api import TracePagination, time_param


@login_required
@require_GET
def model_traces(request, slug: str):
    model = registry_selectors.model_get(user=request.user, slug=slug)
    wanted = (request.GET.get("trace") or "").strip()
    if wanted:
        return redirect("gateway:trace_detail", trace_id=wanted)
    drf_request = Request(request)
    error = ""
    since = until = None
    try:
        since = time_param(drf_request, "since")
        until = time_param(drf_request, "until")
    except ActionError as exc:
        error = exc.message
    records = selectors.traces_of(model=model, since=since, until=until)
    paginator = TracePagination()
    page = paginator.paginate_queryset(records, drf_request)
    shadow = selectors.shadow_by_trace([record.trace_id for record in page])
    access_record(request, "model.traces_listed", model, summary=f"Traces of {model.slug} listed.")
    context = {
        "model": model,
        "rows": [(record, shadow[record.trace_id]) for record in page],
        "next_link": paginator.get_next_link(),
        "previous_link": paginator.get_previous_link(),
        "since": request.GET.get("since", ""),
        "until": request.GET.get("until", ""),
        "error": error,
        "shadow_summary": selectors.shadow_summary(model=model, since=since, until=until),
    }
    return render(request, "gateway/model_traces.html", context, status=400 if error else 200)


@login_required
@require_GET
def trace_detail(request, trace_id: str):
    record = selectors.trace_get(user=request.user, trace_id=trace_id)
    access_record(request, "trace.viewed", record, summary=f"Trace {record.trace_id} viewed.")
    shadow = selectors.shadow_of(record)
    features = [feature["name"] for feature in record.version.input_schema]
    rows = []
    predictions = record.outputs.get("predictions", [])
    probabilities = record.outputs.get("probabilities") or []
    shadow_predictions = [item.outputs.get("predictions") or [] for item in shadow]
    for index, row in enumerate(record.inputs):
        rows.append(
            {
                "index": index,
                "values": [row.get(name) for name in features],
                "prediction": _at(predictions, index),
                "probability": _at(probabilities, index),
                "shadow": [_at(values, index) for values in shadow_predictions],
            }
        )
    context = {
        "model": record.model,
        "record": record,
        "features": features,
        "rows": rows,
        "approvals": selectors.approvals_of(record.version),
        "history": selectors.champion_history_around(record.model, record.at),
        "shadow": shadow,
    }
    return render(request, "gateway/trace_detail.html", context)


def _at(values: list, index: int):
    return values[index] if index < len(values) else None


@login_required
@require_GET
def model_comparison(request, slug: str):
    model = registry_selectors.model_get(user=request.user, slug=slug)
    error = ""
    try:
        window = live.window_get(request.GET.get("window"))
    except ActionError as exc:
        error = exc.message
        window = live.WINDOWS[live.DEFAULT_WINDOW]
    result = live.comparison_compute(model=model, window=window)
    context = {
        "model": model,
        "comparison": result,
        "windows": list(live.WINDOWS.values()),
        "error": error,
        "tolerance_percent": result.tolerance * 100,
        "distribution_chart": charts.distribution_chart(
            result.edges or [],
            [(side.label, side.histogram) for side in result.sides],
            title=f"Distribution of each version's {result.scores_label} in {window.label}",
            x_label=result.score_name or "score",
        ),
        "latency_chart": charts.percentile_chart(
            [(side.label, side.latency) for side in result.sides],
            title=f"Latency per request in {window.label}: p50, p95 and p99",
        ),
    }
    return render(request, "gateway/model_comparison.html", context, status=400 if error else 200)
