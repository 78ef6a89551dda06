"""Fixtures of the notification tests: more people around the credit model, versions walked
to a state, emails sent at once instead of through the broker, and a real SMTP server."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache

from tests import factories
from workflows.notifications import mail

# The lifecycle tests' agent, named users and versions walked to a state (version_in).
from ..lifecycle.conftest import agent, users, version_in  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _cheap_passwords_and_fresh_limits(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.GOVERNANCE_BASE_URL = "https://governance.example.com"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def crowd(credit_model, alice, bob):
    """Everyone the rules must tell apart, around the credit model:

    - frank: validator with the reviewer grant, deactivated;
    - gina: validator without any grant on the model;
    - henry: data scientist holding the reviewer grant (not a validator);
    - ivan: validator, reviewer through a group's grant;
    - olga: operator role without the operator grant; pete: operator grant without the role;
    - bob (contributor) is also a validator with the reviewer grant;
    - alice (owner) is also a validator with the reviewer grant.
    """
    people = {
        "frank": factories.make_user("frank", "validator"),
        "gina": factories.make_user("gina", "validator"),
        "henry": factories.make_user("henry", "data_scientist"),
        "ivan": factories.make_user("ivan", "validator"),
        "olga": factories.make_user("olga", "operator"),
        "pete": factories.make_user("pete", "data_scientist"),
    }
    factories.grant(model=credit_model, user=people["frank"], role="reviewer")
    factories.grant(model=credit_model, user=people["henry"], role="reviewer")
    factories.grant(model=credit_model, user=people["pete"], role="operator")
    team = Group.objects.create(name="model-risk-team")
    people["ivan"].groups.add(team)
    factories.grant(model=credit_model, group=team, role="reviewer")
    for user in (alice, bob):
        user.groups.add(Group.objects.get(name="validator"))
        factories.grant(model=credit_model, user=user, role="reviewer")
    people["frank"].is_active = False
    people["frank"].save(update_fields=["is_active"])
    return people


@pytest.fixture
def send_at_once(monkeypatch):
    """Emails are sent in the test's thread when the action commits, instead of by a worker;
    returns the list of send outcomes ("sent", "skipped", or the failure)."""
    outcomes: list[str] = []

    def send(ids):
        for pk in ids:
            try:
                outcomes.append(mail.notification_email_send(notification_id=pk))
            except mail.EmailNotSent as exc:
                outcomes.append(f"failed: {exc}")
        return len(ids)

    monkeypatch.setattr(mail, "emails_enqueue", send)
    return outcomes


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a loopback port: the messages it accepted, with their
    envelope recipients."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        from ..testsuites.conftest import free_port

        self.messages: list[dict] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        self.messages.append(
            {
                "rcpt_tos": list(envelope.rcpt_tos),
                "mail_from": envelope.mail_from,
                "message": email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default),
            }
        )
        return "250 Message accepted for delivery"

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()


def use_smtp(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
