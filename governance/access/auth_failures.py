"""Refused authentication in the audit trail: wrong signing passwords and codes and the lockout
that follows, wrong one-time codes at sign-in, the sign-in lockout, bad API tokens.

Each refusal is an access event naming who (or which name) tried, from where and why. They are
rate limited in the shared cache, so that a flood cannot fill the trail: at most
GOVERNANCE_AUTH_FAILURE_AUDIT_LIMIT events a minute per source address and reason. The event
that reaches the limit says so, and the next one recorded says how many were left out.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

from governance.audit.models import AuditEvent, EventKind
from governance.audit.services import audit_append

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Left-out refusals are reported by the next event recorded for the same source and reason,
# if it comes within this long.
SUPPRESSED_KEPT_SECONDS = 24 * 3600


def refusal_source(request) -> str:
    """The client's address as the sign-in rate limits see it (allauth's trusted proxies)."""
    if request is None:
        return ""
    from allauth.account.adapter import get_adapter

    try:
        address = get_adapter(request).get_client_ip(request)
    except Exception:  # no address, or a forwarded header that does not match the proxy settings
        address = None
    return (address or request.META.get("REMOTE_ADDR") or "")[:45]


def auth_failure_record(
    *,
    request,
    action: str,
    reason: str,
    summary: str,
    username: str = "",
    user=None,
    actor=None,
    data: dict | None = None,
) -> AuditEvent | None:
    """Record one refused authentication as an access event, or count it when the limit for its
    source and reason is reached this minute; returns the event, or None when left out.

    ``username`` is the name tried (or the account concerned), ``user`` the account when known,
    ``actor`` the signed-in person who tried (None for someone not signed in). Call it outside
    any transaction that the refusal rolls back, or the event goes with it.
    """
    source = refusal_source(request)
    limit = settings.GOVERNANCE_AUTH_FAILURE_AUDIT_LIMIT
    bucket = f"governance:auth-failure:{reason}:{source}"
    count_key = f"{bucket}:{int(time.time() // WINDOW_SECONDS)}"
    left_out_key = f"{bucket}:left-out"
    cache.add(count_key, 0, timeout=2 * WINDOW_SECONDS)
    try:
        count = cache.incr(count_key)
    except ValueError:  # expired between the two calls
        cache.set(count_key, 1, timeout=2 * WINDOW_SECONDS)
        count = 1
    if limit and count > limit:
        cache.add(left_out_key, 0, timeout=SUPPRESSED_KEPT_SECONDS)
        try:
            cache.incr(left_out_key)
        except ValueError:
            cache.set(left_out_key, 1, timeout=SUPPRESSED_KEPT_SECONDS)
        logger.warning("Refused authentication not recorded (limit reached): %s %s from %s", action, reason, source)
        return None

    details = {"reason": reason, "username_tried": username[:150], "source": source, **(data or {})}
    left_out = cache.get(left_out_key) or 0
    if left_out:
        try:
            cache.decr(left_out_key, left_out)
        except ValueError:
            pass
        details["not_recorded_before"] = left_out
        summary += f" {left_out} earlier refusal(s) of this kind from {source or 'this source'} were not recorded."
    if limit and count == limit:
        details["limit_reached"] = True
        summary += (
            f" Limit of {limit} recorded a minute reached: further refusals of this kind from "
            f"{source or 'this source'} are counted, not recorded, until the next minute."
        )
    return audit_append(
        kind=EventKind.ACCESS,
        action=action,
        summary=summary,
        data=details,
        obj=user,
        actor=actor,
        request=request,
    )
