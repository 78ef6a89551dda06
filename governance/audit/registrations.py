"""Which registry models django-auditlog records (the access and lifecycle apps register theirs).

A version's state changes only through ``version_transition``, whose transition record is in the
trail with its actor, annotation and policy; auditlog leaves those fields out so that a transition
is not recorded twice. (``serialize_data`` is not used on versions: auditlog would set the
protected FSM field on a copy and fail every save.)
"""

from auditlog.registry import auditlog


def register_models() -> None:
    from governance.registry.models import Dataset, MLModel, ModelVersion

    if not auditlog.contains(MLModel):
        # The counter of version numbers moves with each upload, which is recorded already.
        auditlog.register(MLModel, exclude_fields=["last_version_number"])
    if not auditlog.contains(Dataset):
        auditlog.register(Dataset)
    if not auditlog.contains(ModelVersion):
        auditlog.register(ModelVersion, exclude_fields=["state", "state_changed_at", "was_champion"])
