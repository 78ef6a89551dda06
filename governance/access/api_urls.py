from django.urls import path

from . import api

urlpatterns = [
    path("users/", api.UserCreate.as_view(), name="api_user_create"),
    path("users/<str:username>/", api.UserDetail.as_view(), name="api_user_detail"),
    path("users/<str:username>/deactivate/", api.UserDeactivate.as_view(), name="api_user_deactivate"),
    path("models/<slug:slug>/grants/", api.GrantListCreate.as_view(), name="api_grant_list"),
    path("models/<slug:slug>/grants/<int:pk>/", api.GrantDetail.as_view(), name="api_grant_detail"),
]
