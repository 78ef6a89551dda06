"""Pages of people and access: sharing a model, one's own API tokens."""

from django.urls import path

from . import views

app_name = "access"

urlpatterns = [
    path("models/<slug:slug>/sharing/", views.model_sharing, name="model_sharing"),
    path("models/<slug:slug>/sharing/<int:pk>/remove/", views.grant_remove, name="grant_remove"),
    path("account/tokens/", views.token_list, name="token_list"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
