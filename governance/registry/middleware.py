"""Refuse a request body larger than any upload may be, before Django reads a byte of it.

``DATA_UPLOAD_MAX_MEMORY_SIZE`` only bounds the fields that are not files; a file part is
spooled to a temporary file as it arrives, so without this a client could fill the disk with
one request (the per-kind limits are checked only once the upload has been written out).
A body without a ``Content-Length`` is never read past zero bytes by Django, so the declared
length is the whole of what can arrive.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .intake import _human_size


def max_request_bytes() -> int:
    """The largest body accepted: the larger upload limit plus room for the other form fields."""
    configured = getattr(settings, "GOVERNANCE_MAX_REQUEST_BYTES", None)
    if configured:
        return int(configured)
    return max(settings.GOVERNANCE_MAX_ARTIFACT_BYTES, settings.GOVERNANCE_MAX_DATASET_BYTES) + 1024 * 1024


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads such a body as empty
        limit = max_request_bytes()
        if length > limit:
            return self.refuse(request, length, limit)
        return self.get_response(request)

    @staticmethod
    def refuse(request: HttpRequest, length: int, limit: int) -> HttpResponse:
        detail = (
            f"The request is {_human_size(length)}, over the limit of {_human_size(limit)}: "
            f"artifacts may be up to {_human_size(settings.GOVERNANCE_MAX_ARTIFACT_BYTES)} and "
            f"datasets up to {_human_size(settings.GOVERNANCE_MAX_DATASET_BYTES)}."
        )
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": detail, "code": "too_large"}, status=413)
        else:
            response = render(request, "413.html", {"detail": detail}, status=413)
        # The body was not read: ask the client to drop the connection rather than reuse it.
        response["Connection"] = "close"
        return response
