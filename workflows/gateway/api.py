"""API v1 of the scoring gateway: predict, a trace, a model's traces."""

from __future__ import annotations

import json
from datetime import timezone as dt_timezone

from django.utils.dateparse import parse_datetime
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.audit.services import access_record
from governance.errors import ActionError
from governance.registry import selectors as registry_selectors

from . import representation, selectors, services
from .validation import InputRejected


class ScoringJSONParser(JSONParser):
    """JSON in which NaN and Infinity parse as numbers, so that the input check names the row
    and the feature that holds one (the standard parser refuses the whole body)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return json.loads(stream.read().decode(encoding))
        except ValueError as exc:
            raise exceptions.ParseError(f"The body is not JSON: {exc}") from exc


class Predict(APIView):
    parser_classes = [ScoringJSONParser]

    def post(self, request, slug):
        body = request.data
        if not isinstance(body, dict) or "inputs" not in body:
            raise InputRejected("The body is an object with 'inputs': a list of rows, each {feature: value, ...}.", code="not_a_list")
        try:
            answer = services.prediction_make(
                slug=slug, caller=request.user, inputs=body["inputs"], token=getattr(request, "api_token", None)
            )
        except services.RateLimited as exc:
            return Response(
                {"detail": exc.message, "code": exc.code}, status=exc.status, headers={"Retry-After": str(exc.retry_after)}
            )
        except InputRejected as exc:
            data = {"detail": exc.message, "code": exc.code, "inputs": [exc.message]}
            if exc.row is not None:
                data["row"] = exc.row
            if exc.feature is not None:
                data["feature"] = exc.feature
            return Response(data, status=exc.status)
        return Response(answer.as_dict())


class TraceDetail(APIView):
    def get(self, request, trace_id):
        record = selectors.trace_get(user=request.user, trace_id=trace_id)
        access_record(request, "trace.viewed", record, summary=f"Trace {record.trace_id} viewed.")
        return Response(representation.trace_detail(record))


class TracePagination(CursorPagination):
    ordering = ("-at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def time_param(request, name: str):
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw.replace(" ", "+"))
    except ValueError:
        value = None
    if value is None:
        raise ActionError(f"'{name}' is not an ISO 8601 time such as 2026-01-31T12:00:00Z.", field=name)
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt_timezone.utc)


class ModelTraces(APIView):
    def get(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        records = selectors.traces_of(model=model, since=time_param(request, "since"), until=time_param(request, "until"))
        paginator = TracePagination()
        page = paginator.paginate_queryset(records, request, view=self)
        shadow = selectors.shadow_by_trace([record.trace_id for record in page])
        access_record(request, "model.traces_listed", model, summary=f"Traces of {model.slug} listed.")
        return paginator.get_paginated_response(
            [representation.trace_summary(record, shadow[record.trace_id]) for record in page]
        )
