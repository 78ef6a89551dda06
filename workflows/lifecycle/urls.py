"""Browser pages of the lifecycle. The version page itself is the registry's."""

from django.urls import path

from . import views

app_name = "lifecycle"

version = "models/<slug:slug>/versions/<int:number>/"

urlpatterns = [
    path("review/", views.review_queue, name="review_queue"),
    path(version + "transition/", views.version_transition, name="transition"),
    path(version + "annotate/", views.version_annotate, name="annotate"),
    path(version + "sign/", views.version_sign, name="sign"),
    path(version + "findings/<int:pk>/close/", views.finding_close, name="finding_close"),
]
