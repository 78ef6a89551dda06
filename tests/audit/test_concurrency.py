"""Many simultaneous writers never fork the chain or skip a number."""

import threading

import pytest
from django.db import connection, transaction

from governance.audit.models import GENESIS_HASH, AuditEvent, ChainHead
from governance.audit.services import agent_event_record
from governance.audit.verification import chain_verify

THREADS = 8
APPENDS = 25


class Abandoned(Exception):
    pass


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Real commits from several threads, without pytest-django's transactional flush, which
    would also empty the role groups that a data migration made for the tests after this one.
    Only the trail is written here, and it is emptied afterwards."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                # TRUNCATE, because the triggers refuse DELETE and moving the head back on PostgreSQL;
                # as the tests' own user (the owner) when the suite runs as the app role.
                role = connection.settings_dict["OPTIONS"].get("assume_role")
                if connection.vendor == "postgresql" and role:
                    cursor.execute("RESET ROLE")
                verb = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
                cursor.execute(f"{verb} {AuditEvent._meta.db_table}")
                cursor.execute(f"{verb} {ChainHead._meta.db_table}")
                ChainHead.objects.create(pk=1, seq=0, hash=GENESIS_HASH, base_seq=1, base_prev_hash=GENESIS_HASH)
                if connection.vendor == "postgresql" and role:
                    cursor.execute(connection.ops.compose_sql("SET ROLE %s", [role]))


def test_simultaneous_writers_keep_one_gapless_chain(committed_db):
    start = threading.Barrier(THREADS)
    errors = []

    def writer(number: int):
        try:
            start.wait()
            for index in range(APPENDS):
                try:
                    with transaction.atomic():
                        agent_event_record(agent_name=f"writer-{number}", action="job.ran", data={"i": index})
                        # Every fifth action fails after its event was appended: the event must
                        # go with it and leave no hole in the numbering.
                        if index % 5 == 4:
                            raise Abandoned()
                except Abandoned:
                    pass
        except Exception as error:  # surfaced in the main thread
            errors.append(error)
        finally:
            connection.close()

    # Transactional tests elsewhere may have left entries behind: continue from them.
    start_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    threads = [threading.Thread(target=writer, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    kept = THREADS * (APPENDS - APPENDS // 5)
    new_seqs = AuditEvent.objects.filter(seq__gt=start_seq).order_by("seq").values_list("seq", flat=True)
    assert list(new_seqs) == list(range(start_seq + 1, start_seq + kept + 1))
    result = chain_verify()
    assert result.ok and result.checked == AuditEvent.objects.count()
