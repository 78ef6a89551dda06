"""Framework hooks that feed the trail (signals for logins and audit hooks only, never to drive the workflow).

- django-auditlog change entries become "change" events (old and new values, actor, cid);
- transition records, annotations and sign-offs become decision events;
- Django's and allauth's sign-in, sign-out, failed sign-in, MFA and password signals, token
  creation and revocation and deactivation become "login" events.

Each receiver runs inside the transaction of the save that fired it, so the event commits or
rolls back with the action. ``connect()`` is called from ``AuditConfig.ready``.
"""

from __future__ import annotations

from contextvars import ContextVar

from auditlog.models import LogEntry
from auditlog.signals import pre_log
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save, pre_save

from .models import EventKind
from .context import current_request
from .services import _UNSET, account_event_record, audit_append

# The instance auditlog is about to log, so the change event can name its model and version.
_logged_instance: ContextVar = ContextVar("governance_audit_logged_instance", default=None)

_LOGENTRY_ACTIONS = {
    LogEntry.Action.CREATE: "created",
    LogEntry.Action.UPDATE: "updated",
    LogEntry.Action.DELETE: "deleted",
    LogEntry.Action.ACCESS: "accessed",
}

# Decisions are in the trail as decision events of their own (below); auditlog's entries for
# the same rows would only repeat them.
_DECISION_LABELS = {"lifecycle.transitionrecord", "lifecycle.annotation", "lifecycle.signoff"}
# Fields of a sign-off never copied into the trail.
_SECRET_FIELDS = {"password", "otp", "secret", "key_hash"}


# --- django-auditlog ----------------------------------------------------------------------------


def remember_logged_instance(sender, instance, action, **kwargs):
    _logged_instance.set(instance)


def logentry_to_event(sender, instance: LogEntry, created: bool, raw: bool = False, **kwargs):
    if not created or raw:
        return
    entry = instance
    content_type = entry.content_type
    obj = _logged_instance.get()
    _logged_instance.set(None)
    label = f"{content_type.app_label}.{content_type.model}"
    if label in _DECISION_LABELS:
        return
    if obj is None or obj._meta.label_lower != label or str(obj.pk) != str(entry.object_pk):
        # Many-to-many changes (group memberships) send no pre_log: read the object.
        model_class = content_type.model_class()
        obj = model_class._base_manager.filter(pk=entry.object_pk).first() if model_class else None
    verb = _LOGENTRY_ACTIONS.get(entry.action, "changed")
    audit_append(
        kind=EventKind.CHANGE,
        action=f"{content_type.model}.{verb}",
        summary=f"{verb.capitalize()} {content_type.name} “{entry.object_repr}”.",
        data={"changes": entry.changes or {}, "logentry_id": entry.pk},
        obj=obj,
        object_type=label,
        object_id=str(entry.object_pk),
        object_repr=entry.object_repr,
        actor=entry.actor if entry.actor_id else _UNSET,
        # Within a request our own reading of the address; auditlog believes X-Forwarded-For.
        remote_addr=None if current_request() is not None else (entry.remote_addr or ""),
        correlation_id=entry.cid,
    )


# --- Decisions ----------------------------------------------------------------------------------


def transition_to_event(sender, instance, created: bool, raw: bool = False, **kwargs):
    if not created or raw:
        return
    record = instance
    audit_append(
        kind=EventKind.TRANSITION,
        action="version.transition",
        summary=record.annotation or f"{record.name}: {record.from_state} → {record.to_state}",
        data={
            "name": record.name,
            "from_state": record.from_state,
            "to_state": record.to_state,
            "policy": record.policy,
            "details": record.details,
            "record_id": record.pk,
        },
        obj=record,
        actor=record.actor,
        agent_name=record.agent_name if record.actor_kind == "agent" else "",
    )


def annotation_to_event(sender, instance, created: bool, raw: bool = False, **kwargs):
    if not created or raw:
        return
    audit_append(
        kind=EventKind.ANNOTATION,
        action="version.annotated",
        summary=instance.text,
        data={"annotation_id": instance.pk},
        obj=instance,
        actor=instance.author,
        agent_name=instance.agent_name,
    )


def signoff_to_event(sender, instance, created: bool, raw: bool = False, **kwargs):
    """A signature, as a decision event (the password is never part of it)."""
    if not created or raw:
        return
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in _SECRET_FIELDS:
            continue
        value = field.value_from_object(instance)
        data[field.attname] = value if isinstance(value, (str, int, float, bool, dict, list, type(None))) else str(value)
    signer = next(
        (getattr(instance, name) for name in ("signer", "actor", "user", "author") if getattr(instance, name, None)),
        None,
    )
    decision = getattr(instance, "decision", "")
    audit_append(
        kind=EventKind.SIGNOFF,
        action=f"version.signoff.{decision}" if decision else "version.signoff",
        summary=getattr(instance, "annotation", "") or getattr(instance, "meaning", ""),
        data=data,
        obj=instance,
        actor=signer,
    )


# --- Sign-in and account events -----------------------------------------------------------------


def on_logged_in(sender, request, user, **kwargs):
    account_event_record(action="login.succeeded", user=user, request=request, actor=user)


def on_logged_out(sender, request, user, **kwargs):
    account_event_record(action="login.signed_out", user=user, request=request, actor=user)


def on_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in ``credentials``; keep only the name tried.
    tried = str(credentials.get("username") or credentials.get("login") or credentials.get("email") or "")[:150]
    account_event_record(
        action="login.failed",
        request=request,
        actor=None,
        summary=f"Failed sign-in as “{tried}”.",
        data={"username_tried": tried},
    )


def on_mfa_added(sender, request, user, authenticator, **kwargs):
    account_event_record(
        action="mfa.enrolled", user=user, request=request, data={"type": authenticator.type},
        summary=f"Enrolled {authenticator.type} authenticator.",
    )


def on_mfa_removed(sender, request, user, authenticator, **kwargs):
    account_event_record(
        action="mfa.removed", user=user, request=request, data={"type": authenticator.type},
        summary=f"Removed {authenticator.type} authenticator.",
    )


def on_mfa_reset(sender, request, user, authenticator, **kwargs):
    account_event_record(
        action="mfa.reset", user=user, request=request, data={"type": authenticator.type},
        summary=f"Regenerated {authenticator.type}.",
    )


def _touches(update_fields, name: str) -> bool:
    return update_fields is None or name in update_fields


def user_before_save(sender, instance, raw: bool = False, update_fields=None, **kwargs):
    """Note a password change (``set_password`` leaves the raw password on the instance until
    saved; a hash upgrade at sign-in does not) and a flip of ``is_active``."""
    if raw or instance.pk is None:
        return
    instance._audit_password_changed = getattr(instance, "_password", None) is not None and _touches(
        update_fields, "password"
    )
    instance._audit_was_active = None
    if _touches(update_fields, "is_active"):
        instance._audit_was_active = (
            type(instance)._base_manager.filter(pk=instance.pk).values_list("is_active", flat=True).first()
        )


def user_after_save(sender, instance, created: bool, raw: bool = False, **kwargs):
    if raw or created:
        return
    if getattr(instance, "_audit_password_changed", False):
        instance._audit_password_changed = False
        account_event_record(action="password.changed", user=instance, summary="Password changed.")
    was_active = getattr(instance, "_audit_was_active", None)
    instance._audit_was_active = None
    if was_active is True and not instance.is_active:
        account_event_record(action="user.deactivated", user=instance, summary=f"Deactivated {instance.username}.")
    elif was_active is False and instance.is_active:
        account_event_record(action="user.reactivated", user=instance, summary=f"Reactivated {instance.username}.")


def token_before_save(sender, instance, raw: bool = False, update_fields=None, **kwargs):
    instance._audit_was_revoked = None
    if not raw and instance.pk is not None and _touches(update_fields, "revoked_at"):
        old = type(instance)._base_manager.filter(pk=instance.pk).values_list("revoked_at", flat=True).first()
        instance._audit_was_revoked = old is not None


def token_after_save(sender, instance, created: bool, raw: bool = False, **kwargs):
    """Token creation and revocation, with its label and prefix, never its secret or hash."""
    if raw:
        return
    data = {
        "token_id": instance.pk,
        "label": instance.label,
        "prefix": instance.key_prefix,
        "owner": instance.user.username,
        "expires_at": instance.expires_at.isoformat() if instance.expires_at else None,
    }
    if created:
        account_event_record(
            action="token.created", user=instance.user, obj=instance, data=data,
            summary=f"API token “{instance.label or instance.key_prefix}” created for {instance.user.username}.",
        )
    elif getattr(instance, "_audit_was_revoked", None) is False and instance.revoked_at is not None:
        account_event_record(
            action="token.revoked", user=instance.user, obj=instance, data=data,
            summary=f"API token “{instance.label or instance.key_prefix}” of {instance.user.username} revoked.",
        )
    instance._audit_was_revoked = None


def connect() -> None:
    from auditlog.models import LogEntry as ConcreteLogEntry

    pre_log.connect(remember_logged_instance, dispatch_uid="audit.remember_logged_instance")
    post_save.connect(logentry_to_event, sender=ConcreteLogEntry, dispatch_uid="audit.logentry")

    post_save.connect(
        transition_to_event, sender=apps.get_model("lifecycle", "TransitionRecord"), dispatch_uid="audit.transition"
    )
    post_save.connect(
        annotation_to_event, sender=apps.get_model("lifecycle", "Annotation"), dispatch_uid="audit.annotation"
    )
    post_save.connect(signoff_to_event, sender=apps.get_model("lifecycle", "SignOff"), dispatch_uid="audit.signoff")

    user_logged_in.connect(on_logged_in, dispatch_uid="audit.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="audit.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit.login_failed")

    from allauth.mfa import signals as mfa_signals

    mfa_signals.authenticator_added.connect(on_mfa_added, dispatch_uid="audit.mfa_added")
    mfa_signals.authenticator_removed.connect(on_mfa_removed, dispatch_uid="audit.mfa_removed")
    mfa_signals.authenticator_reset.connect(on_mfa_reset, dispatch_uid="audit.mfa_reset")

    from celery.signals import task_postrun, task_prerun

    from .context import task_finished, task_started

    task_prerun.connect(task_started, dispatch_uid="audit.task_started", weak=False)
    task_postrun.connect(task_finished, dispatch_uid="audit.task_finished", weak=False)

    user_model = get_user_model()
    pre_save.connect(user_before_save, sender=user_model, dispatch_uid="audit.user_before")
    post_save.connect(user_after_save, sender=user_model, dispatch_uid="audit.user_after")
    token_model = apps.get_model("access", "ApiToken")
    pre_save.connect(token_before_save, sender=token_model, dispatch_uid="audit.token_before")
    post_save.connect(token_after_save, sender=token_model, dispatch_uid="audit.token_after")
