from django.urls import path

from . import views

app_name = "gateway"

urlpatterns = [
    path("models/<slug:slug>/traces/", views.model_traces, name="model_traces"),
    path("models/<slug:slug>/comparison/", views.model_comparison, name="model_comparison"),
    path("traces/<str:trace_id>/", views.trace_detail, name="trace_detail"),
]
