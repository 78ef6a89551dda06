"""Two confirmations of one model's tier at the same moment run one after the other: the
second records the first's tier as the old one, so the trail tells the whole story."""

import threading

import pytest
from django.db import connection

from governance.audit.models import AuditEvent
from governance.registry import services
from governance.registry.models import MLModel
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_at_once_are_recorded_one_after_the_other():
    alice = factories.make_user("alice", "data_scientist")
    carol = factories.make_user("carol", "validator")
    dave = factories.make_user("dave", "validator")
    model = factories.make_model(alice, confirmed=False, reviewer=[carol, dave])

    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def confirm(actor, tier):
        try:
            barrier.wait(timeout=10)
            services.model_risk_tier_confirm(model=model, actor=actor, risk_tier=tier, reason=f"{actor.username} says {tier}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(carol, "low")), threading.Thread(target=confirm, args=(dave, "high"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    events = list(AuditEvent.objects.filter(action="model.risk_tier_confirmed").order_by("seq"))
    assert len(events) == 2
    first, second = events
    assert first.details["old_tier"] == "medium" and first.details["old_status"] == "proposed"
    assert second.details["old_tier"] == first.details["new_tier"] and second.details["old_status"] == "confirmed"
    fresh = MLModel.objects.get(pk=model.pk)
    assert (fresh.risk_tier, fresh.risk_tier_status) == (second.details["new_tier"], "confirmed")
