"""Framework events that change who may do what: a new password ends the person's API tokens,
and a sign-in starts the session's idle clock.

allauth sends ``password_changed``, ``password_set`` and ``password_reset`` after the person
changed, set or reset their own password (the audit app records the change itself); nobody sets
another person's password in the portal (an admin only sends a reset email).
"""

from __future__ import annotations

import time

from . import services


def tokens_revoke_on_password_change(sender, request, user, **kwargs) -> None:
    # The person acted on their own account, so they are the actor of the revocations.
    if not user.is_service_account:
        services.tokens_revoke_for(actor=user, user=user)


def session_activity_start(sender, request, user, **kwargs) -> None:
    """A sign-in is activity: the idle clock starts with it (IdleSessionMiddleware), and the
    session is not written again on the first requests that follow."""
    from .middleware import IdleSessionMiddleware

    session = getattr(request, "session", None)
    if session is not None:
        session[IdleSessionMiddleware.LAST_SEEN] = int(time.time())


def role_names_forget(sender, instance, action, reverse, **kwargs) -> None:
    """A user's groups changed through this instance: its role checks read them afresh."""
    if not reverse and action.startswith("post_"):
        instance.__dict__.pop("_role_group_names", None)


def connect() -> None:
    from allauth.account import signals
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import user_logged_in
    from django.db.models.signals import m2m_changed

    m2m_changed.connect(
        role_names_forget, sender=get_user_model().groups.through, dispatch_uid="access.role_names_forget"
    )
    user_logged_in.connect(session_activity_start, dispatch_uid="access.session_activity_start")

    for signal, name in (
        (signals.password_changed, "changed"),
        (signals.password_set, "set"),
        (signals.password_reset, "reset"),
    ):
        signal.connect(tokens_revoke_on_password_change, dispatch_uid=f"access.tokens_revoke_on_password_{name}")
