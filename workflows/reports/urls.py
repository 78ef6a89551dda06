"""Browser pages of the reports (the API is in api_urls.py)."""

from django.urls import path

from . import views

app_name = "reports"

prefix = "models/<slug:slug>/versions/<int:number>/"

urlpatterns = [
    path(prefix + "report/", views.report_page, name="version_report"),
    path(prefix + "report.html", views.report_html, name="version_report_html"),
    path(prefix + "report.pdf", views.report_pdf, name="version_report_pdf"),
    path(prefix + "evidence-pack.zip", views.evidence_pack, name="evidence_pack"),
    path("reports/inventory/", views.inventory, name="inventory"),
    path("reports/inventory.csv", views.inventory_csv, name="inventory_csv"),
    path("reports/inventory.pdf", views.inventory_pdf, name="inventory_pdf"),
    path("reports/period/", views.period_report, name="period"),
    path("reports/period.pdf", views.period_report_pdf, name="period_pdf"),
]
