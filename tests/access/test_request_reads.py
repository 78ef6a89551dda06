"""A request reads its caller's token, roles and grants once, and a change made by anyone is seen
on the caller's very next request (and by the request that makes it, at once)."""

import pytest
from rest_framework.test import APIRequestFactory

from governance.access import permissions
from governance.access.authentication import BearerTokenAuthentication
from governance.access.models import ModelGrant
from governance.access.roles import GlobalRole
from governance.access.services import grant_give, grant_revoke, token_create, user_set_roles
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_token_its_user_and_their_roles_are_one_query(alice, django_assert_num_queries):
    _, raw = token_create(actor=alice, user=alice)
    request = APIRequestFactory().get("/api/v1/models/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    BearerTokenAuthentication().authenticate(request)  # the token's last-use write, once
    with django_assert_num_queries(1):
        user, _token = BearerTokenAuthentication().authenticate(request)
        assert user.has_role(GlobalRole.DATA_SCIENTIST)
        assert not user.has_role(GlobalRole.AUDITOR) and not user.has_role(GlobalRole.ADMIN)
        assert user.role_names == [GlobalRole.DATA_SCIENTIST]


def test_a_removed_role_counts_on_the_tokens_very_next_request(alice, admin_user, api_for):
    manager = factories.make_user("manager", "admin")
    client = api_for(manager)
    assert client.get("/api/v1/users/alice/").status_code == 200
    user_set_roles(actor=admin_user, user=manager, roles=[GlobalRole.DATA_SCIENTIST])
    assert client.get("/api/v1/users/alice/").status_code == 404
    user_set_roles(actor=admin_user, user=manager, roles=[GlobalRole.ADMIN])
    assert client.get("/api/v1/users/alice/").status_code == 200


def test_a_removed_grant_counts_on_the_very_next_version_read(version, credit_model, alice, victor, api_for):
    factories.grant(model=credit_model, user=victor, role="viewer", granted_by=alice)
    client = api_for(victor)
    url = f"/api/v1/models/{credit_model.slug}/versions/{version.number}/"
    assert client.get(url).status_code == 200
    grant_revoke(actor=alice, grant=ModelGrant.objects.get(model=credit_model, user=victor))
    assert client.get(url).status_code == 404
    assert client.get(f"/api/v1/models/{credit_model.slug}/").status_code == 404


def test_a_request_that_changes_grants_sees_its_change(credit_model, alice, victor, django_assert_num_queries):
    victor.roles_read_once = True  # as the user a request acts as
    assert not permissions.can_view_model(victor, credit_model)
    with django_assert_num_queries(0):
        assert not permissions.can_view_model(victor, credit_model)  # read once
    grant, _ = grant_give(actor=alice, model=credit_model, role="viewer", user=victor)
    assert permissions.can_view_model(victor, credit_model)
    grant_revoke(actor=alice, grant=grant)
    assert not permissions.can_view_model(victor, credit_model)


def test_other_user_instances_read_the_grants_on_every_question(credit_model, alice, victor):
    assert not permissions.can_view_model(victor, credit_model)
    ModelGrant.objects.create(model=credit_model, user=victor, role="viewer", granted_by=alice)
    from governance.access.services import _sync_perms

    _sync_perms(model=credit_model, user=victor, group=None)
    assert permissions.can_view_model(victor, credit_model)


def test_grants_write_their_permissions_in_one_insert_and_remove_in_one_delete(
    credit_model, alice, victor, django_assert_max_num_queries
):
    from governance.registry.models import MLModelUserObjectPermission

    def held():
        return sorted(
            MLModelUserObjectPermission.objects.filter(user=victor, content_object=credit_model).values_list(
                "permission__codename", flat=True
            )
        )

    grant_give(actor=alice, model=credit_model, role="viewer", user=victor)
    owner, _ = grant_give(actor=alice, model=credit_model, role="owner", user=victor)
    assert held() == ["contribute_mlmodel", "manage_mlmodel", "view_mlmodel"]
    kept = MLModelUserObjectPermission.objects.get(user=victor, content_object=credit_model, permission__codename="view_mlmodel")
    grant_revoke(actor=alice, grant=owner)
    assert held() == ["view_mlmodel"]
    # The row both grants carry stays as it was: never deleted and added again.
    assert MLModelUserObjectPermission.objects.filter(pk=kept.pk).exists()


def test_a_new_models_owner_grant_is_one_insert(alice, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.registry.services import model_create

    with CaptureQueriesContext(connection) as queries:
        model = model_create(user=alice, name="Fresh", risk_tier="low", task="classification")
    writes = [q["sql"] for q in queries.captured_queries if "objectpermission" in q["sql"].lower()]
    assert len(writes) == 1 and writes[0].lstrip().upper().startswith("INSERT"), writes
    assert permissions.is_owner(alice, model) and permissions.can_contribute(alice, model)


def test_a_decision_in_a_new_transaction_block_reads_the_grants_again(credit_model, alice, victor):
    """Services that decide under a row lock decide on the grants as they are once it is held."""
    from django.db import transaction

    from governance.registry.models import MLModelUserObjectPermission

    factories.grant(model=credit_model, user=victor, role="viewer", granted_by=alice)
    victor.roles_read_once = True
    assert permissions.can_view_model(victor, credit_model)
    # Taken away by another process, which this one hears nothing of.
    MLModelUserObjectPermission.objects.filter(user=victor, content_object=credit_model).delete()
    assert permissions.can_view_model(victor, credit_model)  # read once for the request
    with transaction.atomic():
        assert not permissions.can_view_model(victor, credit_model)
