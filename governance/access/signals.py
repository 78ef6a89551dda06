"""Signals of the access services, for the layers above them (workflows) to act on."""

from django.dispatch import Signal

# Sent by ``services.user_deactivate`` inside its transaction when an account is switched off,
# with ``user`` (the account) and ``actor`` (who switched it off).
user_deactivated = Signal()
