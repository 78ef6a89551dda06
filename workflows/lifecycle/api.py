"""API v1 endpoints of the lifecycle: model versions, transitions, sign-offs, annotations and findings.

Transitions by name take the people's transitions of the lifecycle table. Names that exist but
are not called by name answer 403: ``approve``/``reject``/``request_changes`` (code
``signoff_required``: sign via
``signoffs/``) and the workers' ``pass_tests``, ``fail_tests``, ``pass_warmup``, ``fail_warmup``
(code ``agent_only``). A name that does not exist answers 400 (``unknown_transition``).
"""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import validated
from governance.registry import selectors as registry_selectors
from governance.registry.serializers import VersionSerializer
from governance.version_wiring import version_api_related

from . import findings, services
from .history import version_history
from .serializers import (
    AnnotationRequestSerializer,
    AnnotationSerializer,
    FindingCloseRequestSerializer,
    FindingSerializer,
    HistoryEntrySerializer,
    SignOffRequestSerializer,
    SignOffSerializer,
    TransitionRequestSerializer,
)


def _version_response(request, slug, number, status_code=status.HTTP_200_OK) -> Response:
    version = registry_selectors.version_get(
        user=request.user, slug=slug, number=number, related=version_api_related
    )
    return Response(VersionSerializer(version, context={"request": request}).data, status=status_code)


class VersionTransition(APIView):
    def post(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        data = validated(TransitionRequestSerializer, request)
        services.version_transition(version=version, actor=request.user, **data)
        return _version_response(request, slug, number)


class VersionSignOff(APIView):
    def post(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        data = validated(SignOffRequestSerializer, request)
        signoff = services.signoff_record(version=version, signer=request.user, request=request, **data)
        body = SignOffSerializer(signoff).data
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        body["state"] = version.state
        return Response(body, status=status.HTTP_201_CREATED)


class VersionAnnotations(APIView):
    def post(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        text = validated(AnnotationRequestSerializer, request)["text"]
        note = services.annotation_add(version=version, author=request.user, text=text)
        return Response(AnnotationSerializer(note).data, status=status.HTTP_201_CREATED)


class VersionHistory(APIView):
    def get(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        entries = [entry.as_api() for entry in version_history(version)]
        return Response(HistoryEntrySerializer(entries, many=True).data)


class VersionFindings(APIView):
    """The version's conditions and findings, oldest first, for anyone who can see the model."""

    def get(self, request, slug, number):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        return Response(FindingSerializer(findings.findings_of_version(version), many=True).data)


class FindingClose(APIView):
    def post(self, request, slug, number, pk):
        version = registry_selectors.version_get(user=request.user, slug=slug, number=number)
        finding = findings.finding_get(version=version, pk=pk)
        annotation = validated(FindingCloseRequestSerializer, request)["annotation"]
        closed = findings.finding_close(finding=finding, actor=request.user, annotation=annotation)
        return Response(FindingSerializer(findings.finding_get(version=version, pk=closed.pk)).data)
