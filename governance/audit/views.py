"""The audit page for auditors and admins, its streamed exports, and the champion-on-date panel."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from . import export, selectors
from .forms import ChampionOnForm, EventFilterForm
from .services import access_record

PAGE_SIZE = 50


def _require_auditor(request) -> None:
    # 403, as the API answers to a signed-in person without audit rights: the trail is not an
    # object whose existence could leak, it is a page everyone knows of and few may read.
    if not selectors.can_read_trail(request.user):
        raise PermissionDenied(selectors.TRAIL_REFUSED)


@login_required
def event_list(request):
    _require_auditor(request)
    form = EventFilterForm(request.GET)
    events, before, next_before = [], None, None
    if form.is_valid():
        before = _int_or_none(request.GET.get("before"))
        page = list(selectors.events_filter(**form.filters(), before_seq=before)[: PAGE_SIZE + 1])
        events = page[:PAGE_SIZE]
        next_before = events[-1].seq if len(page) > PAGE_SIZE else None
    access_record(request, "audit.viewed", data={"filters": form.active_filters() if form.is_bound else {}})
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "audit/event_list.html",
        {
            "form": form,
            "rows": [{"event": event, "link": object_link(event)} for event in events],
            "next_before": next_before,
            "is_first_page": before is None,
            "query": query.urlencode(),
        },
    )


@login_required
def event_export(request, fmt: str):
    _require_auditor(request)
    form = EventFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in form.errors.items())
        return HttpResponseBadRequest(f"Invalid filters: {errors}", content_type="text/plain")
    events = selectors.events_filter(**form.filters())
    # The export is itself an access event, recorded before the first byte goes out.
    access_record(request, "audit.exported", data={"format": fmt, "filters": form.active_filters()})
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        response = StreamingHttpResponse(export.csv_lines(events), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(export.json_chunks(events), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response


def object_link(event) -> str:
    """A link to what the event is about, when that page exists."""
    try:
        if event.model_slug and event.version_number:
            return reverse(
                "registry:version_detail", kwargs={"slug": event.model_slug, "number": event.version_number}
            )
        if event.model_slug:
            return reverse("registry:model_detail", kwargs={"slug": event.model_slug})
        if event.object_type == "registry.dataset" and event.object_id:
            return reverse("registry:dataset_detail", kwargs={"pk": int(event.object_id)})
    except (NoReverseMatch, ValueError):
        return ""
    return ""


def champion_panel_context(request, model) -> dict:
    """Context of the model page's "champion on a date" panel; the page has checked visibility."""
    form = ChampionOnForm(request.GET) if request.GET.get("champion_on") else ChampionOnForm()
    answer = None
    if form.is_bound and form.is_valid():
        answer = selectors.champion_on(model=model, at=form.cleaned_data["champion_on"])
    return {"champion_form": form, "champion_answer": answer, "champion_asked": form.is_bound and form.is_valid()}


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
