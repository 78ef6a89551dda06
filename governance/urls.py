"""URLs: browser pages, the API v1 under /api/v1/, allauth under /accounts/, the admin."""

from django.contrib import admin
from django.urls import include, path

api_v1 = [
    path("", include("governance.registry.api_urls")),
    path("", include("governance.access.api_urls")),
    path("", include("workflows.lifecycle.api_urls")),
    path("", include("workflows.testsuites.api_urls")),
    path("", include("governance.audit.api_urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include(api_v1)),
    path("", include("governance.access.urls")),
    path("", include("workflows.lifecycle.urls")),
    path("", include("workflows.testsuites.urls")),
    path("", include("governance.audit.urls")),
    path("", include("governance.registry.urls")),
]

handler404 = "governance.api.page_not_found"
handler500 = "governance.api.server_error"
