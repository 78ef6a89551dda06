"""The demo's two-factor sign-in: one validator enrolled in TOTP with a published secret.

The secret is as public as the demo password, so the flow can be seen without a phone: add the
otpauth URI to an authenticator app, or run ``python manage.py totp_code val`` for the current
code. Neither is for production (``seed_demo`` and ``totp_code`` refuse it).
"""

from __future__ import annotations

import time
from urllib.parse import quote, urlencode

from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.db import transaction

from governance.access.models import User

DEMO_TOTP_USERNAME = "val"
# Base32, as authenticator apps take it.
DEMO_TOTP_SECRET = "M5XXMZLSNZQW4Y3FFVSGK3LPFV3GC3BB"
# The name the authenticator app shows for the entry.
DEMO_TOTP_ISSUER = "Model governance demo"


def totp_enroll(user: User, secret: str = DEMO_TOTP_SECRET) -> Authenticator:
    """Enrol ``user`` in TOTP with ``secret``, once: an existing TOTP authenticator is kept as it
    is. The enrolment is in the audit trail, as one made on the Two-factor page."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        authenticator = TOTP.activate(user, secret).instance
        mfa_signals.authenticator_added.send(sender=Authenticator, request=None, user=user, authenticator=authenticator)
    return authenticator


def totp_secret(user: User) -> str | None:
    """The user's TOTP secret, or None when they have no TOTP authenticator."""
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return decrypt(authenticator.data["secret"]) if authenticator else None


def totp_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (what the QR code on the Two-factor page holds)."""
    params = {"secret": secret, "issuer": DEMO_TOTP_ISSUER}
    return f"otpauth://totp/{quote(f'{DEMO_TOTP_ISSUER}:{user.username}')}?{urlencode(params, quote_via=quote)}"


def totp_code_now(secret: str, *, at: float | None = None) -> str:
    """The code an authenticator app shows for ``secret`` now (or at the Unix time ``at``)."""
    from allauth.mfa import app_settings

    counter = int(time.time() if at is None else at) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))
