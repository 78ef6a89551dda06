"""API v1: a model's test suite (GET for anyone who sees the model; PUT for its editors)."""

from rest_framework.response import Response
from rest_framework.views import APIView

from governance.registry import selectors as registry_selectors

from . import selectors, services


class SuiteConfig(APIView):
    def get(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        current, customised = selectors.suite_config_of(model)
        return Response({"model": model.slug, "checks": current, "customised": customised,
                         "can_edit": selectors.can_edit_suite(request.user, model)})

    def put(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        config = services.suite_config_update(model=model, raw_checks=request.data.get("checks"), user=request.user)
        return Response({"model": model.slug, "checks": config.checks, "customised": True, "can_edit": True})


class VersionProgress(APIView):
    def get(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        return Response(selectors.version_progress(version))
