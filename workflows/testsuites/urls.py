from django.urls import path

from . import views

app_name = "testsuites"

urlpatterns = [
    path("models/<slug:slug>/test-suite/", views.suite_edit, name="suite_edit"),
    path("models/<slug:slug>/versions/<int:number>/test-progress/", views.version_progress, name="version_progress"),
]
