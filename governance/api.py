"""Shared pieces of the public API v1: the error format, pagination and request validation.

Errors are ``{"detail": "...", "code": "..."}``, plus the field errors for 400.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from governance.errors import ActionError


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def paginated(view, queryset, serializer_class, **serializer_kwargs) -> Response:
    """One page of ``queryset`` for ``view``'s request, serialized, in the paginated envelope."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, **serializer_kwargs).data)


def validated(serializer_class, request) -> dict:
    """The request body as ``serializer_class`` cleans it; a 400 with the field errors if it is not valid."""
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


def exception_handler(exc, context):
    """Every error of the API in the one format; a service's refusal with its own code and status."""
    if isinstance(exc, ActionError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body[exc.field] = [exc.message]
        return Response(body, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        first = _first(fields, name_fields=True)
        body = {"detail": first or "Invalid input.", "code": _first(exc.get_codes()) or "invalid"}
        body.update(fields)
        response.data = body
        return response
    detail = response.data.get("detail") if isinstance(response.data, dict) else None
    code = getattr(getattr(exc, "detail", None), "code", None) or getattr(exc, "default_code", "error")
    response.data = {"detail": str(detail) if detail is not None else str(exc), "code": code}
    return response


def _first(errors, *, name_fields: bool = False) -> str:
    """The first message (or code) in DRF's nested error dicts and lists, "" if there is none.

    With ``name_fields``, it is prefixed with the field it belongs to ("risk_tier: ...").
    """
    if isinstance(errors, dict):
        for key, value in errors.items():
            first = _first(value, name_fields=name_fields)
            if first:
                return f"{key}: {first}" if name_fields and key != "non_field_errors" else first
    elif isinstance(errors, list):
        for value in errors:
            first = _first(value, name_fields=name_fields)
            if first:
                return first
    elif errors:
        return str(errors)
    return ""


def page_not_found(request, exception=None):
    """404 for any URL: JSON ``{"detail","code"}`` under /api/, the portal's page elsewhere.

    Paths under /api/v1/ that match no endpoint (``versions/abc/``) never reach DRF, so
    without this a client would get an HTML page instead of the API's error body.
    """
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """500: JSON under /api/ (clients parse every error body), the portal's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", "code": "server_error"}, status=500)
    return defaults.server_error(request)
