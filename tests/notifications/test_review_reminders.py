"""The periodic review of a champion: flagged once per due date, its owners told and mailed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from governance.registry.models import ModelVersion
from workflows.lifecycle.models import Annotation
from workflows.notifications import services, tasks
from workflows.notifications.models import Notification
from workflows.testsuites.models import ReviewReminder

from .. import factories
from ..testsuites.helpers import make_champion

pytestmark = pytest.mark.django_db


@pytest.fixture
def champion(credit_model, alice, oscar, datasets):
    return make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)


def test_champion_due_for_review_is_flagged_once_and_its_owners_mailed(
    champion, alice, send_at_once, django_capture_on_commit_callbacks
):
    assert services.reviews_flag_due().data == {"flagged": []}
    ModelVersion.objects.filter(pk=champion.pk).update(state_changed_at=timezone.now() - timedelta(days=400))
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        agent_run = services.reviews_flag_due()

    assert len(agent_run.data["flagged"]) == 1 and agent_run.agent_name == "review-scheduler"
    (told,) = Notification.objects.filter(event="periodic_review_due")
    assert told.recipient == alice and told.version == champion and told.sent_at is not None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    assert mail.outbox[0].subject == f"[Model governance portal] Periodic review due: {champion.model.name} v{champion.number}"
    assert "due for its periodic review" in mail.outbox[0].body
    note = Annotation.objects.get(version=champion, agent_name="review-scheduler")
    assert "every 365 days" in note.text and "alice" in note.text
    with django_capture_on_commit_callbacks(execute=True):
        services.reviews_flag_due()
    assert len(mail.outbox) == 1 and ReviewReminder.objects.count() == 1
    assert Notification.objects.filter(event="periodic_review_due").count() == 1


def test_the_scheduled_task_calls_the_service(champion):
    ModelVersion.objects.filter(pk=champion.pk).update(state_changed_at=timezone.now() - timedelta(days=400))
    assert tasks.flag_reviews_due() == "Checked champions: 1 newly due for periodic review."


def test_high_risk_champions_are_due_sooner(champion):
    version = ModelVersion.objects.select_related("model").get(pk=champion.pk)
    version.model.risk_tier = "critical"
    assert services.review_due_at(version, version.state_changed_at + timedelta(days=91)) is not None
    version.model.risk_tier = "low"
    assert services.review_due_at(version, version.state_changed_at + timedelta(days=91)) is None
