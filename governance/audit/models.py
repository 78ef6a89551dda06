"""The audit trail: one append-only, hash-chained table of everything that happened.

Changes (django-auditlog entries), decisions (transitions, sign-offs, annotations), access,
logins and agents' jobs all become an ``AuditEvent``. Each event carries its sequence number,
the hash of the event before it and the SHA-256 of its own canonical content, so that a changed,
deleted, inserted or moved entry is found by recomputing the chain (``verification.py``).

Events are written only by ``services.audit_append``; on PostgreSQL a trigger refuses UPDATE and
DELETE on this table (migration 0002).
"""

from __future__ import annotations

import ast
import json

from django.conf import settings
from django.db import models

GENESIS_HASH = "0" * 64


class EventKind(models.TextChoices):
    CHANGE = "change", "Change"
    TRANSITION = "transition", "Transition"
    SIGNOFF = "signoff", "Sign-off"
    ANNOTATION = "annotation", "Annotation"
    ACCESS = "access", "Access"
    LOGIN = "login", "Sign-in and account"
    AGENT = "agent", "Agent job"
    ADMIN = "admin", "Audit administration"


class ActorKind(models.TextChoices):
    HUMAN = "human", "Human"
    AGENT = "agent", "Agent"
    ANONYMOUS = "anonymous", "Anonymous"


class AppendOnlyQuerySet(models.QuerySet):
    """Rows of an append-only table (the trail, the lifecycle's history): bulk writes that would
    rewrite them are refused in Python too, so that a mistake fails loudly on SQLite as it does
    on PostgreSQL (trigger)."""

    refusal = "These records are append-only."

    def update(self, **kwargs):
        raise TypeError(self.refusal)

    def delete(self):
        raise TypeError(self.refusal)


class AuditEventQuerySet(AppendOnlyQuerySet):
    refusal = "The audit trail is append-only; use `manage.py audit_purge` for retention."


class AuditEvent(models.Model):
    """One entry of the trail. Its hash is the SHA-256 of the canonical content of the fields in
    ``HASHED_FIELDS`` (seq and prev_hash included), so changing, removing, inserting or moving an
    entry shows when the chain is recomputed."""

    seq = models.BigIntegerField(primary_key=True)
    prev_hash = models.CharField(max_length=64)
    # Not indexed: each index is paid on every append, and only a failed verification looks
    # an entry up by its hash.
    hash = models.CharField(max_length=64)
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    # What happened, dotted: "model.viewed", "login.failed", "version.transition", ...
    action = models.CharField(max_length=60)
    # No database constraint and no cascade: deleting a user must never touch the trail,
    # and the username is kept as text for the day the account is gone.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # filters go by actor_username, which is indexed with seq
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    # For agents: the job's name ("test-runner", "drift-monitor"), whatever account it ran as.
    agent_name = models.CharField(max_length=100, blank=True)
    # What the event is about, copied as text so filters and links need no joins.
    model_slug = models.CharField(max_length=100, blank=True)
    version_number = models.PositiveIntegerField(null=True, blank=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    remote_addr = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    # Why: the annotation, or a sentence describing the event.
    summary = models.TextField(blank=True)
    # Details (old and new values for changes), stored as canonical JSON text: the hash covers
    # exactly these bytes, whatever the database would do to a JSON column (jsonb reorders keys).
    data = models.TextField(default="{}")
    # Access events only: the identifier the request gave the event when it queued it, so that
    # an event delivered twice (a drain that died after its commit) is appended once. Not part
    # of the hash: it says how the event arrived, not what happened.
    event_id = models.UUIDField(null=True, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["model_slug", "seq"], name="audit_model_seq"),
            models.Index(fields=["actor_username", "seq"], name="audit_actor_seq"),
            models.Index(fields=["kind", "seq"], name="audit_kind_seq"),
            # Exact matches only: no extra pattern index, each index is paid on every append.
            models.Index(fields=["correlation_id"], name="audit_correlation"),
        ]
        constraints = [
            # Partial: the other events have no identifier and pay nothing for this index.
            models.UniqueConstraint(
                fields=["event_id"], condition=models.Q(event_id__isnull=False), name="audit_event_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_username or self.actor_kind}"

    def save(self, *args, **kwargs):
        if not kwargs.get("force_insert"):
            raise TypeError("Audit events are appended with services.audit_append, never re-saved.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit trail is append-only.")

    @property
    def details(self) -> dict:
        try:
            return json.loads(self.data)
        except ValueError:
            return {}

    @property
    def changes(self) -> dict:
        """{field: [old, new]} for change events (auditlog's form)."""
        changes = self.details.get("changes")
        return changes if isinstance(changes, dict) else {}

    @property
    def change_rows(self) -> list[tuple[str, str, str]]:
        """(field, old, new) for display; many-to-many changes (group memberships) included.

        The row's own id is left out, and a reference to another row is shown as that row
        reads (a user's name, a model's name) rather than as its id.
        """
        rows = []
        related = self._related_models()
        for field, values in self.changes.items():
            if field == "id":
                continue
            if isinstance(values, dict):  # {"type": "m2m", "operation": "add"|"delete", "objects": [...]}
                objects = ", ".join(str(item) for item in values.get("objects", []))
                removed = values.get("operation") == "delete"
                rows.append((field, objects if removed else "", "" if removed else objects))
            elif isinstance(values, (list, tuple)) and len(values) == 2:
                if field in related:
                    rows.append((field, _related_shown(related[field], values[0]), _related_shown(related[field], values[1])))
                else:
                    rows.append((field, _shown(values[0]), _shown(values[1])))
        return rows

    def _related_models(self) -> dict:
        """{field name: model} of the changed row's references to other rows."""
        from django.apps import apps

        try:
            model = apps.get_model(self.object_type) if "." in (self.object_type or "") else None
        except (LookupError, ValueError):
            model = None
        if model is None:
            return {}
        return {f.name: f.related_model for f in model._meta.concrete_fields if f.is_relation and f.related_model is not None}


def _related_shown(model, value) -> str:
    """The referenced row as it reads, or "a deleted <row>" when it is gone."""
    if value is None or value in ("None", ""):
        return ""
    target = model._default_manager.filter(pk=value).first()
    return str(target) if target is not None else f"a deleted {model._meta.verbose_name}"


def _shown(value) -> str:
    """A recorded field value as a reader reads it: structured values (auditlog keeps a JSON
    field as the text of its Python value) as "name value" pairs, lists joined with "; "."""
    if value is None or value == "None":
        return ""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            try:
                value = json.loads(value)
            except ValueError:
                return value
    return _plain(value)


def _plain(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_plain(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_plain(item) for item in value) or "none"
    return "" if value is None else str(value)


# The fields covered by the hash, in this order: the canonical content of an event is the JSON
# array of their values (``hashing.canonical_content``). Changing this tuple breaks every chain.
HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "at",
    "kind",
    "action",
    "actor_id",
    "actor_username",
    "actor_kind",
    "agent_name",
    "model_slug",
    "version_number",
    "object_type",
    "object_id",
    "object_repr",
    "remote_addr",
    "user_agent",
    "correlation_id",
    "summary",
    "data",
)


class ChainHead(models.Model):
    """The single row that says where the chain ends (and, after a purge, where it starts).

    Appending locks this row, so concurrent writers queue up and never fork the chain or skip a
    number; verification compares the last entry with it, so a truncated tail is found too.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # After a retention purge the chain starts at base_seq, whose prev_hash is base_prev_hash.
    base_seq = models.BigIntegerField(default=1)
    base_prev_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = "audit chain head"

    def __str__(self) -> str:
        return f"head #{self.seq}"
