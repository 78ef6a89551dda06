"""allauth adapters: people are created by admins, not by signing up.

Signing in through the company directory (OpenID Connect) lands on the account an admin made
for that person, matched by an e-mail address the directory says it verified (its
``email_verified`` claim); nobody gets an account by signing in. Removing a person from the
directory stops their directory sign-ins; deactivating them here stops all.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.shortcuts import redirect

from .models import User

UNVERIFIED_EMAIL_MESSAGE = (
    "The company directory did not confirm that your e-mail address is verified, so it cannot be "
    "matched to a portal account. Ask the directory's administrators to verify it, then try again."
)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    def pre_authenticate(self, request, **credentials) -> None:
        """allauth's sign-in rate limit; a sign-in it refuses is recorded (rate limited too)."""
        from django.core.exceptions import ValidationError

        from .auth_failures import auth_failure_record

        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            tried = str(credentials.get("username") or credentials.get("email") or "")[:150]
            auth_failure_record(
                request=request, action="login.locked", reason="too_many_attempts", username=tried,
                summary=f"Sign-in as “{tried}” refused: too many failed attempts.",
            )
            raise


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        # Accounts signing in through the company directory are provisioned by admins first.
        return False

    def pre_social_login(self, request, sociallogin) -> None:
        """Connect a first directory sign-in to the admin-made account with the same e-mail."""
        if sociallogin.is_existing:
            return
        user = directory_account_for(sociallogin)
        if user is not None:
            sociallogin.connect(request, user)
            return
        if any(address.email and not _claimed_verified(address.verified) for address in sociallogin.email_addresses):
            # Anyone who can edit their address at the directory could otherwise take over the
            # account that has it. Refused whether or not an account has the address, so the
            # message does not tell who has an account.
            messages.error(request, UNVERIFIED_EMAIL_MESSAGE, fail_silently=True)
            raise ImmediateHttpResponse(redirect("account_login"))


def _claimed_verified(value) -> bool:
    """Whether the provider's ``email_verified`` claim says yes: JSON true (or the text "true"
    that some directories send); anything else, a missing claim included, is not verified."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def directory_account_for(sociallogin) -> User | None:
    """The one active person whose e-mail the directory asserts as verified, or None.

    Only addresses whose ``email_verified`` claim is true count: the directory's plain ``email``
    claim may be anything its user typed. Service accounts never sign in interactively, and an
    address shared by two accounts is ambiguous, so neither is matched (the person is then
    refused, as signup is closed).
    """
    emails = {
        address.email.strip().lower()
        for address in sociallogin.email_addresses
        if address.email and _claimed_verified(address.verified)
    }
    for email in sorted(emails):
        matches = list(User.objects.filter(email__iexact=email, is_active=True, is_service_account=False)[:2])
        if len(matches) == 1:
            return matches[0]
    return None
