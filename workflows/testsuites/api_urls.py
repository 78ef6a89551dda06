from django.urls import path

from . import api

urlpatterns = [
    path("models/<slug:slug>/test-suite/", api.SuiteConfig.as_view(), name="api_test_suite"),
    path("models/<slug:slug>/versions/<int:number>/test-progress/", api.VersionProgress.as_view(), name="api_test_progress"),
]
