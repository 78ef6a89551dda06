"""The owner/app split in settings: migrations only through ``owner`` when it is configured."""

import pytest
from django.core.management import CommandError, call_command

from governance import db_router
from governance.dbroles import app_role_grant


def test_without_an_owner_alias_the_router_stays_out_of_the_way(settings):
    assert "owner" not in settings.DATABASES  # DATABASE_MIGRATE_URL is not set for the tests
    router = db_router.OwnerMigrates()
    assert router.allow_migrate("default", "audit") is None
    assert router.db_for_write(None) is None and router.db_for_read(None) is None


def test_with_an_owner_alias_only_the_owner_migrates(monkeypatch):
    monkeypatch.setattr(db_router, "split_configured", lambda: True)
    router = db_router.OwnerMigrates()
    assert router.allow_migrate("owner", "audit") is True
    assert router.allow_migrate("default", "audit") is False
    db_router.pre_migrate(None, using="owner")
    try:
        assert router.db_for_write(None) == "owner" and router.db_for_read(None) == "owner"
    finally:
        db_router.state.migrating = False
    assert router.db_for_write(None) is None


def test_db_grant_app_needs_the_owner_alias():
    with pytest.raises(CommandError, match="DATABASE_MIGRATE_URL"):
        call_command("db_grant_app", "governance_app")


@pytest.mark.django_db
def test_grants_are_postgresql_only():
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("tests/audit/test_roles.py covers PostgreSQL")
    assert app_role_grant(using="default", role="governance_app") == []
