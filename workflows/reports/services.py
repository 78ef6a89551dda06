"""Making and opening compliance reports: the version report (HTML and PDF from one template),
the inventory and the period report.

A version report is built once per version and audit chain anchor (``selectors.chain_anchor``)
and kept under ``MEDIA_ROOT/reports/<model>/v<number>/``: asking again before anything new is
recorded opens the same files. Building, viewing and downloading are each an access entry in the
audit trail, written here whatever the door (page, API, task, command).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone

from governance.access.permissions import can_view_model, sees_all_models
from governance.audit.services import access_append
from governance.errors import ActionForbidden
from governance.registry.models import ModelVersion

from . import selectors
from .selectors import ChainAnchor

TEMPLATE = "reports/version_report.html"
PROGRESS_SECONDS = 3600


@dataclass(frozen=True)
class ReportFiles:
    """The built report of one version at one anchor: its HTML, its PDF and who made it."""

    html: Path
    pdf: Path
    meta: Path

    @property
    def ready(self) -> bool:
        return self.pdf.exists() and self.html.exists() and self.meta.exists()

    def made(self) -> dict:
        return json.loads(self.meta.read_text(encoding="utf-8"))


def report_dir(version: ModelVersion) -> Path:
    return Path(settings.MEDIA_ROOT) / "reports" / version.model.slug / f"v{version.number}"


def report_files(version: ModelVersion, anchor: ChainAnchor) -> ReportFiles:
    base = report_dir(version) / anchor.key
    return ReportFiles(html=base.with_suffix(".html"), pdf=base.with_suffix(".pdf"), meta=base.with_suffix(".json"))


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _refuse_unseen(actor, version: ModelVersion) -> None:
    """Whoever may see the model reads its reports; anyone else is told it does not exist."""
    if actor is None or not can_view_model(actor, version.model):
        raise Http404("No such version.")


def html_to_pdf(html: str) -> bytes:
    import weasyprint

    return weasyprint.HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def version_report_html(*, version: ModelVersion, actor, anchor: ChainAnchor, generated_at: datetime) -> str:
    """The report as one HTML document; the PDF is this document printed."""
    context = selectors.version_report_context(version, anchor=anchor, generated_by=actor, generated_at=generated_at)
    return render_to_string(TEMPLATE, context)


def version_report_build(*, version: ModelVersion, actor, anchor: ChainAnchor | None = None) -> ReportFiles:
    """Build the version's report at ``anchor`` (default: now) unless it is built already.

    The build is an access entry ("report.generated") by ``actor``, who is named on every page.
    """
    _refuse_unseen(actor, version)
    anchor = anchor or selectors.chain_anchor()
    files = report_files(version, anchor)
    if files.ready:
        return files
    generated_at = timezone.now()
    html = version_report_html(version=version, actor=actor, anchor=anchor, generated_at=generated_at)
    pdf = html_to_pdf(html)
    write_atomically(files.html, html.encode("utf-8"))
    write_atomically(files.pdf, pdf)
    made = {
        "generated_by": actor.get_username(),
        "generated_by_name": actor.display_name,
        "generated_at": selectors.utc(generated_at),
        "anchor_seq": anchor.seq,
        "anchor_hash": anchor.hash,
    }
    write_atomically(files.meta, json.dumps(made, sort_keys=True).encode("utf-8"))
    access_append(
        action="report.generated",
        obj=version,
        actor=actor,
        summary=f"Compliance report of {version} generated at audit entry {anchor.seq}.",
        data={"anchor_seq": anchor.seq, "anchor_hash": anchor.hash},
    )
    return files


def version_report_open(*, version: ModelVersion, actor, fmt: str, key: str = "", request=None) -> ReportFiles:
    """The report for reading: the one built at the anchor ``key`` names when it is there,
    else the one at the current anchor (built first if there is none). "report.viewed" for the
    HTML, "report.downloaded" for the PDF."""
    _refuse_unseen(actor, version)
    anchor = selectors.anchor_from_key(key) if key else None
    files = report_files(version, anchor) if anchor is not None else None
    if files is None or not files.ready:
        files = version_report_build(version=version, actor=actor)
    made = files.made()
    access_append(
        action="report.viewed" if fmt == "html" else "report.downloaded",
        obj=version,
        actor=actor,
        request=request,
        summary=f"Compliance report of {version} ({fmt.upper()}) made at audit entry {made['anchor_seq']}.",
        data={"format": fmt, "anchor_seq": made["anchor_seq"], "anchor_hash": made["anchor_hash"]},
    )
    return files


# --- Building in the background -------------------------------------------------------------


def progress_key(version: ModelVersion, anchor: ChainAnchor) -> str:
    return f"reports:progress:{version.pk}:{anchor.key}"


def progress_of(version: ModelVersion, anchor: ChainAnchor) -> dict:
    """{"status": "ready" | "queued" | "running" | "failed" | "none", "error"?}."""
    if report_files(version, anchor).ready:
        return {"status": "ready"}
    return cache.get(progress_key(version, anchor)) or {"status": "none"}


def progress_set(version: ModelVersion, anchor: ChainAnchor, status: str, error: str = "") -> None:
    value = {"status": status}
    if error:
        value["error"] = error
    cache.set(progress_key(version, anchor), value, PROGRESS_SECONDS)


def version_report_request(*, version: ModelVersion, actor) -> ChainAnchor:
    """Queue the build of the report at the current anchor for a Celery worker (once: asking
    again while it is queued or running queues nothing more). Returns the anchor to follow."""
    from django.db import transaction

    from .tasks import build_version_report

    _refuse_unseen(actor, version)
    anchor = selectors.chain_anchor()
    if report_files(version, anchor).ready:
        return anchor
    # cache.add claims the build for the first asker; a failed build may be asked for again.
    claimed = cache.add(progress_key(version, anchor), {"status": "queued"}, PROGRESS_SECONDS)
    if not claimed and progress_of(version, anchor)["status"] == "failed":
        progress_set(version, anchor, "queued")
        claimed = True
    if claimed:
        transaction.on_commit(lambda: build_version_report.delay(version.pk, actor.pk, anchor.seq, anchor.hash))
    return anchor


def version_report_build_queued(*, version_id: int, user_id: int, anchor_seq: int, anchor_hash: str) -> str:
    """What the worker runs: the build at the anchor that was asked for, its progress kept."""
    from governance.access.models import User

    version = ModelVersion.objects.select_related("model", "training_dataset", "validation_dataset").get(pk=version_id)
    actor = User.objects.get(pk=user_id)
    anchor = ChainAnchor(anchor_seq, anchor_hash)
    progress_set(version, anchor, "running")
    try:
        version_report_build(version=version, actor=actor, anchor=anchor)
    except Exception as error:
        progress_set(version, anchor, "failed", error=f"The report could not be built: {error}")
        raise
    return f"report of {version} at entry {anchor.seq} built"


# --- The inventory and the period report --------------------------------------------------------


def refuse_unless_auditor(actor) -> None:
    """The inventory and the period report are for auditors and admins."""
    if not sees_all_models(actor):
        raise ActionForbidden("Only auditors and admins read the inventory and the period reports.")


def inventory_opened(*, actor, fmt: str, request=None, row_count: int) -> None:
    refuse_unless_auditor(actor)
    access_append(
        action="report.inventory.viewed" if fmt == "html" else "report.inventory.downloaded",
        actor=actor,
        request=request,
        object_type="report.inventory",
        object_repr="Model inventory",
        summary=f"Model inventory ({fmt.upper()}), {row_count} models.",
        data={"format": fmt, "models": row_count},
    )


def period_report_opened(*, actor, fmt: str, since: datetime, until: datetime, request=None) -> None:
    refuse_unless_auditor(actor)
    access_append(
        action="report.period.viewed" if fmt == "html" else "report.period.downloaded",
        actor=actor,
        request=request,
        object_type="report.period",
        object_repr=f"Period report {since.date().isoformat()} to {until.date().isoformat()}",
        summary=f"Period report ({fmt.upper()}) from {since.date().isoformat()} to {until.date().isoformat()}.",
        data={"format": fmt, "since": since.isoformat(), "until": until.isoformat()},
    )


def document_pdf(*, template: str, context: dict) -> bytes:
    """An inventory or period report printed from its page template."""
    return html_to_pdf(render_to_string(template, {**context, "printing": True}))
