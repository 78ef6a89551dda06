"""Browser pages of the registry (the API is in api_urls.py)."""

from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "registry"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="registry:model_list", permanent=False), name="home"),
    path("models/", views.model_list, name="model_list"),
    path("models/new/", views.model_create, name="model_create"),
    path("models/<slug:slug>/", views.model_detail, name="model_detail"),
    path("models/<slug:slug>/risk-tier/", views.model_risk_tier, name="model_risk_tier"),
    path("models/<slug:slug>/versions/new/", views.version_create, name="version_create"),
    path("models/<slug:slug>/versions/<int:number>/", views.version_detail, name="version_detail"),
    path("models/<slug:slug>/versions/<int:number>/artifact", views.artifact_download, name="artifact_download"),
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/new/", views.dataset_create, name="dataset_create"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/download", views.dataset_download, name="dataset_download"),
]
