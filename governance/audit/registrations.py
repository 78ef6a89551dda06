"""Which registry models django-auditlog records (the access and lifecycle apps register theirs).

Models and datasets are recorded on create, update and delete. A version's fields are fixed at
intake and its state changes only through ``version_transition``, whose transition record is in
the trail with actor, annotation and policy; so versions are recorded on create and delete only,
which saves auditlog's extra read of the old row on every transition. (``serialize_data`` is not
used on versions: auditlog would set the protected FSM field on a copy and fail every save.)
"""

from auditlog.registry import AuditlogModelRegistry, auditlog

# A second registry whose only signals are create and delete.
versions_auditlog = AuditlogModelRegistry(update=False, access=False, m2m=False)


def register_models() -> None:
    from governance.registry.models import Dataset, MLModel, ModelVersion

    if not auditlog.contains(MLModel):
        auditlog.register(MLModel, exclude_fields=["last_version_number"])
    if not auditlog.contains(Dataset):
        auditlog.register(Dataset)
    if not versions_auditlog.contains(ModelVersion):
        versions_auditlog.register(ModelVersion)
