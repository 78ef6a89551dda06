from django.contrib import admin

from .models import DriftCheck, DriftPolicy


@admin.register(DriftPolicy)
class DriftPolicyAdmin(admin.ModelAdmin):
    list_display = ["model", "psi_threshold", "updated_at"]
    search_fields = ["model__name", "model__slug"]


@admin.register(DriftCheck)
class DriftCheckAdmin(admin.ModelAdmin):
    list_display = ["__str__", "rows", "score_psi", "threshold", "drifted"]
    list_filter = ["drifted"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
