from django.urls import path

from . import api

urlpatterns = [
    path("audit/events/", api.EventList.as_view(), name="api-audit-events"),
    path("audit/verify/", api.Verify.as_view(), name="api-audit-verify"),
]
