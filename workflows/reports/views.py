"""Browser pages of the reports: a version's report (built by a worker, with its progress), the
report itself as HTML and PDF, the evidence pack, the inventory and the period report.

Versions are fetched through the registry's selectors (404 for anyone who may not see the
model); each look or download is recorded by the service it calls.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone as dt_timezone

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from governance.csv_cells import csv_writer
from governance.errors import ActionForbidden
from governance.registry import selectors as registry_selectors

from . import packs, selectors, services


def report_filename(version, suffix: str) -> str:
    return f"{version.model.slug}-v{version.number}-compliance-report.{suffix}"


def version_report_response(version, *, actor, fmt: str, key: str = "", request=None) -> HttpResponse:
    """The report as the answer to a page or an API request: the HTML inline, the PDF attached."""
    files = services.version_report_open(version=version, actor=actor, fmt=fmt, key=key, request=request)
    if fmt == "html":
        response = HttpResponse(files.html.read_bytes(), content_type="text/html; charset=utf-8")
        # The report carries inline SVG and a style sheet of its own, and nothing that runs.
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        return response
    return FileResponse(
        open(files.pdf, "rb"), as_attachment=True, filename=report_filename(version, "pdf"), content_type="application/pdf"
    )


@login_required
@require_http_methods(["GET", "POST"])
def report_page(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """The report's page: ask for it (a worker builds it), follow its progress, open it."""
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    if request.method == "POST":
        anchor = services.version_report_request(version=version, actor=request.user)
        return redirect(f"{reverse('reports:version_report', args=[slug, number])}?at={anchor.key}")
    anchor = selectors.anchor_from_key(request.GET.get("at", "")) or selectors.chain_anchor()
    progress = services.progress_of(version, anchor)
    files = services.report_files(version, anchor)
    return render(
        request,
        "reports/report_page.html",
        {
            "model": version.model,
            "version": version,
            "anchor": anchor,
            "progress": progress,
            "made": files.made() if progress["status"] == "ready" else None,
            "refresh": progress["status"] in ("queued", "running"),
        },
    )


@login_required
def report_html(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    return version_report_response(version, actor=request.user, fmt="html", key=request.GET.get("at", ""), request=request)


@login_required
def report_pdf(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    return version_report_response(version, actor=request.user, fmt="pdf", key=request.GET.get("at", ""), request=request)


@login_required
def evidence_pack(request: HttpRequest, slug: str, number: int) -> FileResponse:
    version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
    path = packs.evidence_pack_open(version=version, actor=request.user, request=request)
    return FileResponse(
        open(path, "rb"), as_attachment=True, filename=f"{slug}-v{number}-evidence-pack.zip", content_type="application/zip"
    )


# --- The inventory --------------------------------------------------------------------------


def _auditor_only(request: HttpRequest) -> None:
    try:
        services.refuse_unless_auditor(request.user)
    except ActionForbidden as refusal:
        raise PermissionDenied(refusal.message) from refusal


def _stamp() -> str:
    return selectors.utc(datetime.now(dt_timezone.utc))


@login_required
def inventory(request: HttpRequest) -> HttpResponse:
    _auditor_only(request)
    rows = selectors.inventory_rows(user=request.user)
    services.inventory_opened(actor=request.user, fmt="html", request=request, row_count=len(rows))
    return render(request, "reports/inventory.html", {"rows": rows, "generated_at": _stamp()})


@login_required
def inventory_csv(request: HttpRequest) -> HttpResponse:
    _auditor_only(request)
    rows = selectors.inventory_rows(user=request.user)
    services.inventory_opened(actor=request.user, fmt="csv", request=request, row_count=len(rows))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="model-inventory.csv"'
    writer = csv_writer(response)
    writer.writerow([title for title, _ in selectors.INVENTORY_COLUMNS])
    for row in rows:
        writer.writerow([value(row) for _, value in selectors.INVENTORY_COLUMNS])
    return response


@login_required
def inventory_pdf(request: HttpRequest) -> HttpResponse:
    _auditor_only(request)
    rows = selectors.inventory_rows(user=request.user)
    services.inventory_opened(actor=request.user, fmt="pdf", request=request, row_count=len(rows))
    pdf = services.document_pdf(
        template="reports/inventory_document.html",
        context={"rows": rows, "generated_at": _stamp(), "generated_by": request.user.display_name},
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="model-inventory.pdf"'
    return response


# --- The period report ------------------------------------------------------------------------


def _period(request: HttpRequest) -> tuple[date, date, list[str]]:
    """The dates asked for (both included); the last 30 days when none are given."""
    errors = []
    today = datetime.now(dt_timezone.utc).date()
    values = {}
    for name, default in (("since", today - timedelta(days=29)), ("until", today)):
        raw = request.GET.get(name, "").strip()
        try:
            values[name] = date.fromisoformat(raw) if raw else default
        except ValueError:
            errors.append(f"“{raw}” is not a date: use YYYY-MM-DD.")
            values[name] = default
    if values["since"] > values["until"]:
        errors.append("The first day comes after the last day.")
        values["since"] = values["until"]
    return values["since"], values["until"], errors


def _bounds(since: date, until: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(since, time.min, tzinfo=dt_timezone.utc),
        datetime.combine(until + timedelta(days=1), time.min, tzinfo=dt_timezone.utc),
    )


@login_required
def period_report(request: HttpRequest) -> HttpResponse:
    _auditor_only(request)
    since, until, errors = _period(request)
    start, end = _bounds(since, until)
    if errors:
        return render(
            request, "reports/period.html", {"errors": errors, "since_value": since, "until_value": until}, status=400
        )
    context = selectors.period_report_context(user=request.user, since=start, until=end)
    services.period_report_opened(actor=request.user, fmt="html", since=start, until=end, request=request)
    return render(
        request, "reports/period.html", {**context, "since_value": since, "until_value": until, "generated_at": _stamp()}
    )


@login_required
def period_report_pdf(request: HttpRequest) -> HttpResponse:
    _auditor_only(request)
    since, until, errors = _period(request)
    if errors:
        return render(
            request, "reports/period.html", {"errors": errors, "since_value": since, "until_value": until}, status=400
        )
    start, end = _bounds(since, until)
    context = selectors.period_report_context(user=request.user, since=start, until=end)
    services.period_report_opened(actor=request.user, fmt="pdf", since=start, until=end, request=request)
    pdf = services.document_pdf(
        template="reports/period_document.html",
        context={**context, "generated_at": _stamp(), "generated_by": request.user.display_name},
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="period-report-{since}-to-{until}.pdf"'
    return response
