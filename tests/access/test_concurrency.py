"""Two owners removing each other at the same moment leave the model with one owner.

The one who waits for the lock is refused: no longer an owner (403) or, were they still one,
the last owner's removal (409).
"""

import threading

import pytest
from django.db import connection

from governance.access import services
from governance.access.models import ModelGrant
from governance.errors import ActionConflict, ActionForbidden
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_two_owners_removing_each_other_keep_one_owner():
    alice = factories.make_user("alice", "data_scientist")
    bob = factories.make_user("bob", "data_scientist")
    model = factories.make_model(alice)
    factories.grant(model=model, user=bob, role="owner", granted_by=alice)
    alice_grant = model.grants.get(user=alice, role="owner")
    bob_grant = model.grants.get(user=bob, role="owner")

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def remove(grant, actor):
        try:
            barrier.wait(timeout=10)
            services.grant_revoke(actor=actor, grant=grant)
            outcomes.append("revoked")
        except (ActionConflict, ActionForbidden):
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=remove, args=(bob_grant, alice)),
        threading.Thread(target=remove, args=(alice_grant, bob)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["refused", "revoked"]
    assert ModelGrant.objects.filter(model=model, role="owner").count() == 1
