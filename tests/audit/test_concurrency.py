"""Many simultaneous writers never fork the chain or skip a number."""

import threading

from django.db import connection, transaction

from governance.audit.models import AuditEvent
from governance.audit.services import agent_event_record
from governance.audit.verification import chain_verify

THREADS = 8
APPENDS = 25


class Abandoned(Exception):
    pass


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
