"""API v1 endpoints of the notifications: a person's own inbox, and marking read.

``GET /api/v1/notifications/?unread=true`` lists the caller's notifications, newest first
(paginated), each with its kind, message, link and email state; ``POST .../{id}/read/`` and
``POST .../read-all/`` mark them read. Anyone else's notification answers 404.
"""

from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .mail import absolute_url, compose
from .models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    version = serializers.SerializerMethodField()
    subject = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()
    link = serializers.SerializerMethodField()
    email = serializers.CharField(source="email_status")

    class Meta:
        model = Notification
        fields = ["id", "event", "model", "version", "subject", "message", "link", "created_at", "read_at", "email"]

    def get_version(self, obj) -> int | None:
        return obj.version.number if obj.version_id else None

    def _composed(self, obj):
        cache = self.context.setdefault("composed", {})
        if obj.pk not in cache:
            cache[obj.pk] = compose(obj)
        return cache[obj.pk]

    def get_subject(self, obj) -> str:
        return self._composed(obj).subject

    def get_message(self, obj) -> str:
        composed = self._composed(obj)
        return " ".join([composed.headline, *composed.lines])

    def get_link(self, obj) -> str:
        return absolute_url(self._composed(obj).path)


class NotificationList(ListAPIView):
    serializer_class = NotificationSerializer

    def get_queryset(self):
        notifications = selectors.notifications_of(user=self.request.user)
        if self.request.query_params.get("unread") in ("true", "1"):
            notifications = notifications.filter(read_at__isnull=True)
        return notifications


class NotificationRead(APIView):
    def post(self, request, pk):
        notification = selectors.notification_get(user=request.user, pk=pk)
        services.notification_mark_read(actor=request.user, notification=notification)
        return Response(NotificationSerializer(notification).data)


class NotificationsReadAll(APIView):
    def post(self, request):
        return Response({"marked_read": services.notifications_mark_all_read(actor=request.user)})
