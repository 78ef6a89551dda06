"""What happened to a version: transitions and annotations, append-only."""

from django.conf import settings
from django.db import models


class ActorKind(models.TextChoices):
    HUMAN = "human", "Human"
    AGENT = "agent", "Agent"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("History records are append-only.")

    def delete(self):
        raise TypeError("History records are append-only.")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise TypeError(f"{type(self).__name__} records are append-only; add a new one instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} records are append-only.")


class TransitionRecord(AppendOnlyModel):
    """One state change of a version, written in the same transaction as the change."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="transitions")
    name = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    # For agents: the job's name ("test-runner", "scheduler"), whatever account it ran as.
    agent_name = models.CharField(max_length=100, blank=True)
    annotation = models.TextField(blank=True)
    # The approval policy numbers in force when the decision was taken.
    policy = models.JSONField(default=dict)
    # Extra facts, e.g. {"replaced_by": 4} on a champion retired by a promotion.
    details = models.JSONField(default=dict)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.name} {self.from_state} -> {self.to_state}"


class Annotation(AppendOnlyModel):
    """A note on a version by a person or an agent. A correction is a new annotation."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="annotations")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    agent_name = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.text[:40]}"
