from django.urls import path

from . import api

PROPOSAL = "models/<slug:slug>/test-suite/proposals/<int:pk>/"

urlpatterns = [
    path("models/<slug:slug>/test-suite/", api.SuiteConfig.as_view(), name="api_test_suite"),
    path("models/<slug:slug>/test-suite/proposals/", api.SuiteProposals.as_view(), name="api_suite_proposals"),
    path(PROPOSAL, api.SuiteProposal.as_view(), name="api_suite_proposal"),
    path(PROPOSAL + "approve/", api.SuiteProposalDecision.as_view(), {"action": "approve"}, name="api_suite_proposal_approve"),
    path(PROPOSAL + "reject/", api.SuiteProposalDecision.as_view(), {"action": "reject"}, name="api_suite_proposal_reject"),
    path(PROPOSAL + "withdraw/", api.SuiteProposalDecision.as_view(), {"action": "withdraw"}, name="api_suite_proposal_withdraw"),
    path("models/<slug:slug>/versions/<int:number>/test-progress/", api.VersionProgress.as_view(), name="api_test_progress"),
]
