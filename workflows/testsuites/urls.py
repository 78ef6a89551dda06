from django.urls import path

from . import views

app_name = "testsuites"

urlpatterns = [
    path("models/<slug:slug>/test-suite/", views.suite_edit, name="suite_edit"),
    path("models/<slug:slug>/test-suite/proposals/<int:pk>/", views.proposal_detail, name="proposal_detail"),
    path("models/<slug:slug>/test-suite/proposals/<int:pk>/approve/", views.proposal_decide, {"action": "approve"}, name="proposal_approve"),
    path("models/<slug:slug>/test-suite/proposals/<int:pk>/reject/", views.proposal_decide, {"action": "reject"}, name="proposal_reject"),
    path("models/<slug:slug>/test-suite/proposals/<int:pk>/withdraw/", views.proposal_decide, {"action": "withdraw"}, name="proposal_withdraw"),
    path("models/<slug:slug>/versions/<int:number>/test-progress/", views.version_progress, name="version_progress"),
]
