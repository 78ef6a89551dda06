from django.urls import path

from . import api

prefix = "models/<slug:slug>/versions/<int:number>/"

urlpatterns = [
    path(prefix + "transitions/", api.VersionTransition.as_view(), name="api_version_transition"),
    path(prefix + "signoffs/", api.VersionSignOff.as_view(), name="api_version_signoffs"),
    path(prefix + "annotations/", api.VersionAnnotations.as_view(), name="api_version_annotations"),
    path(prefix + "history/", api.VersionHistory.as_view(), name="api_version_history"),
    path(prefix + "findings/", api.VersionFindings.as_view(), name="api_version_findings"),
    path(prefix + "findings/<int:pk>/close/", api.FindingClose.as_view(), name="api_finding_close"),
]
