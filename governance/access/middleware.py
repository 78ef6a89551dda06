"""Request checks of people and access: deactivated users, idle sessions, and MFA where it is
required."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect

from .roles import GlobalRole

# Global roles that must enrol in MFA when GOVERNANCE_MFA_REQUIRED is on.
MFA_REQUIRED_ROLES = (GlobalRole.VALIDATOR, GlobalRole.OPERATOR, GlobalRole.ADMIN)


class ActiveUserMiddleware:
    """Sign out a deactivated user on their very next request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        # ModelBackend already refuses inactive users when it loads the session; this also
        # clears the session itself so nothing of it lingers.
        if user is not None and user.is_authenticated and not user.is_active:
            logout(request)
        elif user is not None and user.is_authenticated:
            # This instance serves this request only: its role checks read its groups once.
            user.roles_read_once = True
        return self.get_response(request)


class IdleSessionMiddleware:
    """Sign out a browser session nobody used for GOVERNANCE_SESSION_IDLE_MINUTES.

    The time of the last request is kept in the session, written at most once a minute so that
    reading pages does not write the session on every request. The sign-out is Django's, so it
    is in the audit trail like any other.
    """

    LAST_SEEN = "governance.last_seen"
    RESOLUTION = 60  # seconds

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        limit = settings.GOVERNANCE_SESSION_IDLE_MINUTES * 60
        if limit and user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            last_seen = request.session.get(self.LAST_SEEN)
            if last_seen is not None and now - last_seen > limit:
                logout(request)
            elif last_seen is None or now - last_seen >= self.RESOLUTION:
                request.session[self.LAST_SEEN] = now
        return self.get_response(request)


def mfa_required_for(user) -> bool:
    """True when the user must enrol in MFA before using the portal."""
    if not getattr(settings, "GOVERNANCE_MFA_REQUIRED", False):
        return False
    if not user.is_authenticated or user.is_service_account:
        return False
    if not (user.is_superuser or any(user.has_role(role) for role in MFA_REQUIRED_ROLES)):
        return False
    from allauth.mfa.utils import is_mfa_enabled

    return not is_mfa_enabled(user)


class MFARequiredMiddleware:
    """With GOVERNANCE_MFA_REQUIRED on, validators, operators and admins enrol in MFA first.

    Until they have an authenticator, every page sends them to the TOTP enrolment page and
    session calls to the API get 403; sign-in, sign-out and the MFA pages themselves (all under
    /accounts/) stay reachable. Bearer-token calls are not sessions and are not affected.
    """

    EXEMPT_PREFIXES = ("/accounts/",)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        exempt = path.startswith((*self.EXEMPT_PREFIXES, "/" + settings.STATIC_URL.lstrip("/")))
        user = getattr(request, "user", None)
        if not exempt and user is not None and mfa_required_for(user):
            if path.startswith("/api/"):
                return JsonResponse(
                    {"detail": "Enrol in two-factor authentication before using the portal.", "code": "mfa_required"},
                    status=403,
                )
            return redirect("mfa_activate_totp")
        return self.get_response(request)
