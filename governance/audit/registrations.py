"""Which registry models django-auditlog records (the access and lifecycle apps register theirs).

Models and datasets are recorded on create, update and delete. A version is recorded on create
and delete only: its fields are fixed at intake except its state (and the two fields that move
with it), which changes only through ``version_transition``, whose transition record is in the
trail with actor, annotation and policy. Leaving auditlog's update hook off versions spares every
transition a read of the old row, a good part of what the trail would add to it (see
bench/audit_bench.py). (``serialize_data`` is not used on versions: auditlog would set the
protected FSM field on a copy and fail every save.)
"""

from auditlog.receivers import log_update
from auditlog.registry import auditlog
from django.db.models.signals import pre_save


def register_models() -> None:
    from governance.registry.models import Dataset, MLModel, ModelVersion

    if not auditlog.contains(MLModel):
        # The counter of version numbers moves with each upload, which is recorded already.
        auditlog.register(MLModel, exclude_fields=["last_version_number"])
    if not auditlog.contains(Dataset):
        auditlog.register(Dataset)
    if not auditlog.contains(ModelVersion):
        auditlog.register(ModelVersion, exclude_fields=["state", "state_changed_at", "was_champion"])
        drop_version_update_hook()


def drop_version_update_hook() -> None:
    from governance.registry.models import ModelVersion

    pre_save.disconnect(sender=ModelVersion, dispatch_uid=auditlog._dispatch_uid(pre_save, log_update))
