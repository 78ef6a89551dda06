from django.urls import path

from . import api

urlpatterns = [
    path("models/", api.ModelListCreate.as_view(), name="api_model_list"),
    path("models/<slug:slug>/", api.ModelDetail.as_view(), name="api_model_detail"),
    path("models/<slug:slug>/risk-tier/", api.ModelRiskTier.as_view(), name="api_model_risk_tier"),
    path("models/<slug:slug>/versions/", api.VersionListCreate.as_view(), name="api_version_list"),
    path("models/<slug:slug>/versions/<int:number>/", api.VersionDetail.as_view(), name="api_version_detail"),
    path("datasets/", api.DatasetListCreate.as_view(), name="api_dataset_list"),
    path("datasets/<int:pk>/", api.DatasetDetail.as_view(), name="api_dataset_detail"),
]
