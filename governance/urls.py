"""URLs: browser pages, the API v1 under /api/v1/, allauth under /accounts/, the admin, and the
SCIM 2.0 service provider for the company directory under /scim/v2/."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# The admin's own login form checks a password and nothing else: no second factor, no rate
# limit. Every sign-in goes through allauth's (MFA, rate limits, the audit of failures); the
# admin login page only sends people there, as allauth documents.
admin.site.login = secure_admin_login(admin.site.login)

api_v1 = [
    path("", include("governance.registry.api_urls")),
    path("", include("governance.access.api_urls")),
    path("", include("workflows.lifecycle.api_urls")),
    path("", include("workflows.testsuites.api_urls")),
    path("", include("workflows.gateway.api_urls")),
    path("", include("governance.audit.api_urls")),
    path("", include("workflows.reports.api_urls")),
    path("", include("workflows.notifications.api_urls")),
]

urlpatterns = [
    # The admin's own pages that are not a model's (the permission grid), before its catch-all.
    path("admin/", include("workflows.lifecycle.admin_urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include(api_v1)),
    # Identity providers provision people here, with a SCIM token (governance.directory.scim).
    path("scim/v2/", include("django_scim.urls", namespace="scim")),
    path("", include("governance.access.urls")),
    path("", include("workflows.lifecycle.urls")),
    path("", include("workflows.testsuites.urls")),
    path("", include("workflows.gateway.urls")),
    path("", include("governance.audit.urls")),
    path("", include("workflows.reports.urls")),
    path("", include("workflows.notifications.urls")),
    path("", include("governance.registry.urls")),
]

handler404 = "governance.api.page_not_found"
handler500 = "governance.api.server_error"
