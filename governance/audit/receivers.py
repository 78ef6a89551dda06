"""Framework hooks that feed the trail: signals only for what the frameworks do.

- django-auditlog change entries become "change" events (old and new values, actor, cid);
- Django's and allauth's sign-in, sign-out, failed sign-in, MFA and password signals become
  "login" events; a wrong one-time code is a rate-limited access event (``auth_failure_record``).

The portal's own decisions (transitions, sign-offs, annotations, grants, tokens, deactivation)
are written by the services that make them, not here. Each receiver runs inside the transaction
of the save that fired it, so the event commits or rolls back with the action. ``connect()`` is
called from ``AuditConfig.ready``.
"""

from __future__ import annotations

from contextvars import ContextVar

from auditlog.models import LogEntry
from auditlog.signals import pre_log
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save

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


def on_mfa_failed(sender, request, user, authenticator, reauthentication=False, **kwargs):
    # Not signed in yet (or re-authenticating): the account is what the event is about.
    from governance.access.auth_failures import auth_failure_record

    stage = "re-authentication" if reauthentication else "sign-in"
    auth_failure_record(
        request=request,
        action="login.mfa_failed",
        reason="wrong_code",
        username=user.get_username(),
        user=user,
        actor=user if reauthentication else None,
        data={"type": authenticator.type, "reauthentication": bool(reauthentication)},
        summary=f"Wrong one-time code for {user.get_username()} at {stage}.",
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


def on_password_changed(sender, request, user, **kwargs):
    account_event_record(action="password.changed", user=user, request=request, summary="Password changed.")


def on_password_set(sender, request, user, **kwargs):
    account_event_record(action="password.changed", user=user, request=request, summary="Password set.")


def on_password_reset(sender, request, user, **kwargs):
    account_event_record(
        action="password.reset", user=user, request=request, actor=user, summary="Password reset by email."
    )


def connect() -> None:
    from auditlog.models import LogEntry as ConcreteLogEntry

    pre_log.connect(remember_logged_instance, dispatch_uid="audit.remember_logged_instance")
    post_save.connect(logentry_to_event, sender=ConcreteLogEntry, dispatch_uid="audit.logentry")

    user_logged_in.connect(on_logged_in, dispatch_uid="audit.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="audit.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit.login_failed")

    from allauth.mfa import signals as mfa_signals

    mfa_signals.authenticator_added.connect(on_mfa_added, dispatch_uid="audit.mfa_added")
    mfa_signals.authenticator_removed.connect(on_mfa_removed, dispatch_uid="audit.mfa_removed")
    mfa_signals.authenticator_reset.connect(on_mfa_reset, dispatch_uid="audit.mfa_reset")
    mfa_signals.authentication_failed.connect(on_mfa_failed, dispatch_uid="audit.mfa_failed")

    from celery.signals import task_postrun, task_prerun

    from .context import task_finished, task_started

    task_prerun.connect(task_started, dispatch_uid="audit.task_started", weak=False)
    task_postrun.connect(task_finished, dispatch_uid="audit.task_finished", weak=False)

    from allauth.account import signals as account_signals

    account_signals.password_changed.connect(on_password_changed, dispatch_uid="audit.password_changed")
    account_signals.password_set.connect(on_password_set, dispatch_uid="audit.password_set")
    account_signals.password_reset.connect(on_password_reset, dispatch_uid="audit.password_reset")
