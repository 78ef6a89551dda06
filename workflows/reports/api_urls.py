from django.urls import path

from . import api

prefix = "models/<slug:slug>/versions/<int:number>/"

urlpatterns = [
    path(prefix + "report.pdf", api.VersionReportPDF.as_view(), name="api_version_report_pdf"),
    path(prefix + "report.html", api.VersionReportHTML.as_view(), name="api_version_report_html"),
    path(prefix + "evidence-pack.zip", api.VersionEvidencePack.as_view(), name="api_version_evidence_pack"),
]
