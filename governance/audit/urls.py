from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.event_list, name="event_list"),
    path("audit/export.csv", views.event_export, {"fmt": "csv"}, name="export_csv"),
    path("audit/export.json", views.event_export, {"fmt": "json"}, name="export_json"),
]
