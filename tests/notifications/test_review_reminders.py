"""The periodic review of a champion: flagged once per due date, its owners mailed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from governance.registry.models import ModelVersion
from workflows.lifecycle.models import Annotation
from workflows.notifications import services, tasks
from workflows.testsuites.models import ReviewReminder

from .. import factories
from ..testsuites.helpers import make_champion

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cheap_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def champion(credit_model, alice, oscar, datasets):
    return make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)


def test_champion_due_for_review_is_flagged_once_and_its_owners_mailed(champion, alice):
    assert services.reviews_flag_due().data == {"flagged": []}
    ModelVersion.objects.filter(pk=champion.pk).update(state_changed_at=timezone.now() - timedelta(days=400))
    mail.outbox.clear()

    agent_run = services.reviews_flag_due()

    assert len(agent_run.data["flagged"]) == 1 and agent_run.agent_name == "review-scheduler"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    assert mail.outbox[0].subject == f"Periodic review due: {champion.model.name} v{champion.number}"
    assert "due for its periodic review" in mail.outbox[0].body
    note = Annotation.objects.get(version=champion, agent_name="review-scheduler")
    assert "every 365 days" in note.text and "alice" in note.text
    services.reviews_flag_due()
    assert len(mail.outbox) == 1 and ReviewReminder.objects.count() == 1


def test_the_scheduled_task_calls_the_service(champion):
    ModelVersion.objects.filter(pk=champion.pk).update(state_changed_at=timezone.now() - timedelta(days=400))
    assert tasks.flag_reviews_due() == "Checked champions: 1 newly due for periodic review."


def test_high_risk_champions_are_due_sooner(champion):
    version = ModelVersion.objects.select_related("model").get(pk=champion.pk)
    version.model.risk_tier = "critical"
    assert services.review_due_at(version, version.state_changed_at + timedelta(days=91)) is not None
    version.model.risk_tier = "low"
    assert services.review_due_at(version, version.state_changed_at + timedelta(days=91)) is None
