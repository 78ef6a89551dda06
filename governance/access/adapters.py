"""allauth adapters: people are created by admins, not by signing up.

Signing in through the company directory (OpenID Connect) lands on the account an admin made
for that person, matched by e-mail address; nobody gets an account by signing in. Removing a
person from the directory stops their directory sign-ins; deactivating them here stops all.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter

from .models import User


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False


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


def directory_account_for(sociallogin) -> User | None:
    """The one active person whose e-mail the directory asserts, or None.

    Service accounts never sign in interactively, and an address shared by two accounts is
    ambiguous, so neither is matched (the person is then refused, as signup is closed).
    """
    emails = {address.email.strip().lower() for address in sociallogin.email_addresses if address.email}
    if getattr(sociallogin.user, "email", ""):
        emails.add(sociallogin.user.email.strip().lower())
    for email in sorted(emails):
        matches = list(User.objects.filter(email__iexact=email, is_active=True, is_service_account=False)[:2])
        if len(matches) == 1:
            return matches[0]
    return None
