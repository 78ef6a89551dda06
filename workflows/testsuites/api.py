"""API v1: a model's test suite and the proposals to change it.

GET for anyone who sees the model. PUT changes the suite at once (validators with the reviewer
grant and admins, unless they own the model); owners POST a proposal, which such a validator
or admin approves or rejects, and its author may withdraw.
"""

from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import Pagination
from governance.registry import selectors as registry_selectors

from . import selectors, services


def _suite(request, model) -> dict:
    current, customised = selectors.suite_config_of(model)
    return {
        "model": model.slug,
        "checks": current,
        "customised": customised,
        "can_edit": selectors.may_set_suite(request.user, model),
        "can_propose": selectors.may_propose_suite(request.user, model),
    }


class SuiteConfig(APIView):
    def get(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        return Response(_suite(request, model))

    def put(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        services.suite_config_set(
            actor=request.user, model=model, raw_checks=request.data.get("checks"), reason=request.data.get("reason")
        )
        return Response(_suite(request, model))


class SuiteProposals(APIView):
    def get(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.proposals_of(model), request, view=self)
        return paginator.get_paginated_response([selectors.proposal_data(p) for p in page])

    def post(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        proposal = services.suite_change_propose(
            actor=request.user, model=model, raw_checks=request.data.get("checks"), reason=request.data.get("reason")
        )
        return Response(selectors.proposal_data(proposal), status=201)


class SuiteProposal(APIView):
    def get(self, request, slug, pk):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        return Response(selectors.proposal_data(selectors.proposal_get(model=model, pk=pk)))


class SuiteProposalDecision(APIView):
    """POST .../approve/, .../reject/ (``reason`` required) and .../withdraw/ (``reason`` optional)."""

    services = {
        "approve": services.suite_proposal_approve,
        "reject": services.suite_proposal_reject,
        "withdraw": services.suite_proposal_withdraw,
    }

    def post(self, request, slug, pk, action):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        proposal = selectors.proposal_get(model=model, pk=pk)
        decided = self.services[action](actor=request.user, proposal=proposal, reason=request.data.get("reason") or "")
        return Response(selectors.proposal_data(decided))


class VersionProgress(APIView):
    def get(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        return Response(selectors.version_progress(version))
