"""Notifications: one row per person told of something, the mail that carries it, each
person's choice of what also comes by email, and the review service levels per risk tier."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from governance.registry.models import RiskTier


class NotificationEvent(models.TextChoices):
    REVIEW_REQUESTED = "review_requested", "A version waits for your sign-off"
    REVIEW_REMINDER = "review_reminder", "A review waits past its service level"
    REVIEW_ESCALATION = "review_escalation", "A review is overdue (to admins)"
    TESTS_FAILED = "tests_failed", "Tests failed"
    WARMUP_FAILED = "warmup_failed", "Warm-up failed"
    APPROVED = "approved", "Version approved"
    REJECTED = "rejected", "Version rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    WITHDRAWN = "withdrawn", "Version withdrawn"
    AWAITING_PROMOTION = "awaiting_promotion", "Approved version waiting for promotion"
    CHAMPION_CHANGED = "champion_changed", "Champion changed"
    DRIFT_FLAGGED = "drift_flagged", "Drift flagged on a version in production"
    PERIODIC_REVIEW_DUE = "periodic_review_due", "Periodic review due"
    SUITE_CHANGE_PROPOSED = "suite_change_proposed", "A test suite change waits for your decision"
    SUITE_CHANGE_APPROVED = "suite_change_approved", "Your test suite change was approved"
    SUITE_CHANGE_REJECTED = "suite_change_rejected", "Your test suite change was rejected"
    SUITE_CHANGE_SUPERSEDED = "suite_change_superseded", "Your test suite change was superseded"
    REVIEWER_DEACTIVATED = "reviewer_deactivated", "A reviewer of a version in review was deactivated"


# Mail a reviewer cannot switch off while they hold a reviewer grant: the work waits for them.
REVIEWER_MANDATORY = (NotificationEvent.REVIEW_REQUESTED, NotificationEvent.REVIEW_REMINDER)


class Notification(models.Model):
    """One person told of one event about a model or version, written in the transaction of
    the action that caused it. The email, when the person wants one, is sent after commit by a
    Celery task; its outcome (sent, or the last failure and the attempts so far) stays here."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications")
    event = models.CharField(max_length=30, choices=NotificationEvent.choices)
    model = models.ForeignKey("registry.MLModel", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The facts the message shows, as they were at the event (actor, annotation, outcome...).
    context = models.JSONField(default=dict, blank=True)
    # What makes this notification unique for its recipient and event (the transition record,
    # the reminder's interval, the review's due date): writing it twice is a no-op.
    occasion = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    email_wanted = models.BooleanField(default=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    # A sender's lease: another delivery of the same email waits until it has passed.
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "event", "occasion"], name="one_notification_per_occasion"),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread_idx"),
            # The inbox and the API list: a person's notifications newest first, without a sort.
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_inbox_idx"),
            models.Index(
                fields=["last_attempt_at"], condition=Q(email_wanted=True, sent_at__isnull=True), name="notification_unsent_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} to {self.recipient} ({self.version or self.model})"

    @property
    def email_status(self) -> str:
        if not self.email_wanted:
            return "not by email"
        if self.sent_at:
            return "sent"
        if self.failure_reason:
            return f"failed ({self.attempts} attempt{'s' if self.attempts != 1 else ''})"
        return "waiting"


class EmailPreference(models.Model):
    """A person's choice for one kind of event: also by email, or in the inbox only.
    No row means by email."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences")
    event = models.CharField(max_length=30, choices=NotificationEvent.choices)
    email = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event"], name="one_email_preference_per_event")]

    def __str__(self) -> str:
        return f"{self.user}: {self.event} by email {'on' if self.email else 'off'}"


class ReviewServiceLevel(models.Model):
    """How long a version of a model in this risk tier may wait in review before its reviewers
    are reminded, and before admins are told. Edited by admins."""

    risk_tier = models.CharField(max_length=10, unique=True, choices=RiskTier.choices)
    remind_after_hours = models.PositiveIntegerField(
        help_text="Hours in review after which the reviewers who have not signed are reminded (again every as many hours)."
    )
    escalate_after_hours = models.PositiveIntegerField(
        help_text="Hours in review after which admins are told (again every as many hours)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["remind_after_hours", "risk_tier"]
        constraints = [
            models.CheckConstraint(condition=Q(remind_after_hours__gte=1), name="remind_after_at_least_an_hour"),
            models.CheckConstraint(
                condition=Q(escalate_after_hours__gt=models.F("remind_after_hours")), name="escalate_after_reminding"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_risk_tier_display()}: remind after {self.remind_after_hours} h, escalate after {self.escalate_after_hours} h"

    def clean(self):
        if self.remind_after_hours is not None and self.escalate_after_hours is not None:
            if self.escalate_after_hours <= self.remind_after_hours:
                raise ValidationError({"escalate_after_hours": "Escalation comes after the first reminder: give more hours."})


class AlertKind(models.TextChoices):
    REMINDER = "reminder", "Reminder to reviewers"
    ESCALATION = "escalation", "Escalation to admins"


class ReviewAlert(models.Model):
    """A reminder or escalation sent for one interval of one version's wait in review. The
    unique constraint makes each fire once, however many schedulers or retries run."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=AlertKind.choices)
    # When the version entered review: a version back in review later starts afresh.
    review_started_at = models.DateTimeField()
    # 1 for the first interval past the service level, 2 for the second...
    period = models.PositiveIntegerField()
    notified = models.JSONField(default=list)  # usernames
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "kind", "review_started_at", "period"], name="one_review_alert_per_interval"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period} for {self.version}"
