"""Global roles (Django groups) and per-model object roles (guardian permissions).

The one place that says which permissions each role carries.
"""

from django.db import models


class GlobalRole(models.TextChoices):
    DATA_SCIENTIST = "data_scientist", "Data scientist"
    VALIDATOR = "validator", "Validator"
    OPERATOR = "operator", "Operator"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"


class ObjectRole(models.TextChoices):
    OWNER = "owner", "Owner"
    CONTRIBUTOR = "contributor", "Contributor"
    REVIEWER = "reviewer", "Reviewer"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


VIEW = "view_mlmodel"
CONTRIBUTE = "contribute_mlmodel"
REVIEW = "review_mlmodel"
OPERATE = "operate_mlmodel"
MANAGE = "manage_mlmodel"

# Object permissions (codenames on registry.MLModel) that each object role grants.
OBJECT_ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ObjectRole.OWNER: (VIEW, CONTRIBUTE, MANAGE),
    ObjectRole.CONTRIBUTOR: (VIEW, CONTRIBUTE),
    ObjectRole.REVIEWER: (VIEW, REVIEW),
    ObjectRole.OPERATOR: (VIEW, OPERATE),
    ObjectRole.VIEWER: (VIEW,),
}

# Model-level permissions each global role's group holds (created by a data migration).
GLOBAL_ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    GlobalRole.DATA_SCIENTIST: ("registry.add_mlmodel", "registry.add_dataset", "registry.add_modelversion"),
    GlobalRole.VALIDATOR: ("registry.add_dataset",),
    GlobalRole.OPERATOR: (),
    GlobalRole.AUDITOR: ("registry.view_mlmodel", "registry.view_modelversion", "registry.view_dataset"),
    GlobalRole.ADMIN: (
        "registry.add_mlmodel",
        "registry.change_mlmodel",
        "registry.view_mlmodel",
        "registry.add_dataset",
        "registry.view_dataset",
        "registry.add_modelversion",
        "registry.view_modelversion",
    ),
}

# Global roles whose holders see every model.
SEE_ALL_ROLES = (GlobalRole.AUDITOR, GlobalRole.ADMIN)
