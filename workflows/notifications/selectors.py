"""Reads of a person's notifications: only their own (anyone else's is 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from .models import Notification


def notifications_of(*, user) -> QuerySet[Notification]:
    """The user's notifications, newest first, with what their messages name."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user).select_related("model", "version__model")


def unread_count(*, user) -> int:
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notification_get(*, user, pk: int) -> Notification:
    notification = notifications_of(user=user).filter(pk=pk).first()
    if notification is None:
        raise Http404("No such notification.")
    return notification
