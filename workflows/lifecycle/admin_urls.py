"""Admin pages of the lifecycle that are not a model's change list: the permission grid."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("permissions/", admin.site.admin_view(views.permission_grid), name="admin_permission_grid"),
]
