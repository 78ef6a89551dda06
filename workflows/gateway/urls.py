from django.urls import path

from . import views

app_name = "gateway"

urlpatterns = [
    path("models/<slug:slug>/traces/", views.model_traces, name="model_traces"),
    path("traces/<str:trace_id>/", views.trace_detail, name="trace_detail"),
]
