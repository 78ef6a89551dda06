from django.urls import path

from . import api

urlpatterns = [
    path("models/<slug:slug>/predict", api.Predict.as_view(), name="api_predict"),
    path("models/<slug:slug>/traces/", api.ModelTraces.as_view(), name="api_model_traces"),
    path("traces/<str:trace_id>/", api.TraceDetail.as_view(), name="api_trace_detail"),
]
