"""API v1 of the audit trail: events and chain verification, auditors and admins."""

from __future__ import annotations

import json

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors
from .forms import EventFilterForm
from .services import access_record
from .verification import chain_verify


def event_json(event) -> dict:
    return {
        "seq": event.seq,
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "kind": event.kind,
        "action": event.action,
        "actor": event.actor_username or None,
        "actor_kind": event.actor_kind,
        "agent_name": event.agent_name,
        "model": event.model_slug or None,
        "version": event.version_number,
        "object": {"type": event.object_type, "id": event.object_id, "repr": event.object_repr}
        if event.object_type
        else None,
        "remote_addr": event.remote_addr or None,
        "user_agent": event.user_agent,
        "correlation_id": event.correlation_id,
        "summary": event.summary,
        "data": json.loads(event.data or "{}"),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class AuditorOnly(APIView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not selectors.can_read_trail(request.user):
            raise exceptions.PermissionDenied(selectors.TRAIL_REFUSED)


class EventPagination(CursorPagination):
    """Pages by key on ``seq`` (``next`` and ``previous`` carry a cursor), so that a page deep in
    a long trail costs what the first one does; ``count`` is the number of matching events."""

    ordering = "-seq"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def __init__(self, count: int):
        self.count = count

    def get_paginated_response(self, data):
        return Response(
            {"count": self.count, "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )


class EventList(AuditorOnly):
    def get(self, request):
        form = EventFilterForm(request.query_params)
        if not form.is_valid():
            errors = form.errors.get_json_data()
            raise exceptions.ValidationError({field: [e["message"] for e in items] for field, items in errors.items()})
        filters = form.filters()
        paginator = EventPagination(selectors.events_count(**filters))
        page = paginator.paginate_queryset(selectors.events_filter(**filters), request, view=self)
        access_record(request, "audit.viewed", data={"filters": form.active_filters(), "via": "api"})
        return paginator.get_paginated_response([event_json(event) for event in page])


class Verify(AuditorOnly):
    def get(self, request):
        result = chain_verify()
        access_record(request, "audit.verified", data={"ok": result.ok, "checked": result.checked})
        return Response(result.as_dict())
