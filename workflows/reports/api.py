"""API v1 endpoints of the reports: a version's compliance report as PDF or HTML, and its
evidence pack. Built on the spot when none is kept for the current audit chain anchor (a
version's report takes a second or two), and kept for the next caller."""

from django.http import FileResponse
from rest_framework.views import APIView

from governance.registry import selectors as registry_selectors

from . import packs
from .views import version_report_response


class VersionReportPDF(APIView):
    def get(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        return version_report_response(version, actor=request.user, fmt="pdf", key=request.GET.get("at", ""), request=request)


class VersionReportHTML(APIView):
    def get(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        return version_report_response(version, actor=request.user, fmt="html", key=request.GET.get("at", ""), request=request)


class VersionEvidencePack(APIView):
    def get(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        path = packs.evidence_pack_open(version=version, actor=request.user, request=request)
        return FileResponse(
            open(path, "rb"), as_attachment=True, filename=f"{slug}-v{number}-evidence-pack.zip",
            content_type="application/zip",
        )
