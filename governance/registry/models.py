"""The registry: ML models, datasets and model versions, and the lifecycle graph of a version.

Artifacts and datasets are stored immutably under their SHA-256 (see ``storage.py``); a row
points at its blob by path and hash and is never rewritten.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django_fsm import FSMField, transition
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class RiskTierStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed by the owner"
    CONFIRMED = "confirmed", "Confirmed by model risk"


class Task(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"


class ArtifactFormat(models.TextChoices):
    ONNX = "onnx", "ONNX"
    SKOPS = "skops", "skops"


class MLModel(models.Model):
    """A machine-learning model under governance; its versions carry the artifacts."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    task = models.CharField(max_length=20, choices=Task.choices)
    # The owner's proposal until a validator or admin confirms or changes it (risk_tier_status).
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, db_index=True)
    risk_tier_status = models.CharField(
        max_length=10, choices=RiskTierStatus.choices, default=RiskTierStatus.PROPOSED, db_index=True
    )
    risk_tier_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    risk_tier_confirmed_at = models.DateTimeField(null=True, blank=True)
    risk_tier_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_models"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The last version number handed out; numbers are never reused, even after a withdrawal.
    last_version_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "model"
        ordering = ["name"]
        # The model list's order (name, then id): a page is read in order and stops at its end,
        # instead of sorting every model with its version columns.
        indexes = [models.Index(fields=["name", "id"], name="mlmodel_name_idx")]
        permissions = [
            ("contribute_mlmodel", "Upload and submit versions of the model"),
            ("review_mlmodel", "Sign off versions of the model"),
            ("operate_mlmodel", "Promote, retire and roll back versions of the model"),
            ("manage_mlmodel", "Manage the model's grants and withdraw its versions"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:model_detail", kwargs={"slug": self.slug})

    @property
    def risk_tier_proposed(self) -> bool:
        return self.risk_tier_status != RiskTierStatus.CONFIRMED

    @property
    def effective_risk_tier(self) -> str:
        """The tier the rules apply: the tier once a validator or admin has confirmed it; while
        it is only the owner's proposal, ``high`` (or ``critical`` if that was proposed)."""
        if not self.risk_tier_proposed:
            return self.risk_tier
        return RiskTier.CRITICAL if self.risk_tier == RiskTier.CRITICAL else RiskTier.HIGH


class MLModelUserObjectPermission(UserObjectPermissionBase):
    """guardian's direct foreign-key table: much faster lists than the generic one."""

    content_object = models.ForeignKey(MLModel, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "user permission on a model"


class MLModelGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(MLModel, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "group permission on a model"


class Dataset(models.Model):
    """A CSV upload, stored once under the SHA-256 of its bytes."""

    name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, db_index=True)
    path = models.CharField(max_length=300, editable=False)
    size = models.PositiveBigIntegerField()
    rows = models.PositiveIntegerField()
    # [{"name": ..., "type": "integer" | "float" | "string" | "boolean"}, ...]
    columns = models.JSONField()
    target = models.CharField(max_length=200, blank=True)
    # The typed copy of the parsed columns (governance/registry/typed_copy.py), made at upload so
    # that workers do not parse the CSV again; its SHA-256 is checked each time it is read.
    # Empty: none (an older upload, or data it cannot hold exactly): workers read the CSV.
    typed_path = models.CharField(max_length=300, blank=True, editable=False)
    typed_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="uploaded_datasets"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"

    def get_absolute_url(self) -> str:
        return reverse("registry:dataset_detail", kwargs={"pk": self.pk})

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.columns]

    @property
    def feature_names(self) -> list[str]:
        return [name for name in self.column_names if name != self.target]


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    TESTING = "testing", "Testing"
    TESTS_FAILED = "tests_failed", "Tests failed"
    WARMING_UP = "warming_up", "Warming up"
    WARMUP_FAILED = "warmup_failed", "Warm-up failed"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHALLENGER = "challenger", "Challenger"
    CHAMPION = "champion", "Champion"
    RETIRED = "retired", "Retired"
    WITHDRAWN = "withdrawn", "Withdrawn"


S = VersionState
# States from which the owner may still withdraw a version ("any state before approved").
WITHDRAWABLE = [
    S.DRAFT, S.TESTING, S.TESTS_FAILED, S.WARMING_UP, S.WARMUP_FAILED, S.IN_REVIEW, S.CHANGES_REQUESTED,
]


def is_former_champion(version: "ModelVersion") -> bool:
    """Only a former champion can be rolled back to.

    (Not named ``was_champion``: inside the class body that name is the field, which
    django-fsm would then try to call as the condition.)
    """
    return version.was_champion


class ModelVersionQuerySet(models.QuerySet):
    """Bulk writes never touch the state: only a transition, with its record, changes it."""

    def update(self, **kwargs):
        if "state" in kwargs:
            raise TypeError("A version's state changes only through its transitions (workflows.lifecycle.services).")
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        if "state" in fields:
            raise TypeError("A version's state changes only through its transitions (workflows.lifecycle.services).")
        return super().bulk_update(objs, fields, batch_size=batch_size)


class ModelVersion(models.Model):
    """One uploaded version of a model, and the lifecycle graph it moves through.

    The state is a protected FSM field: only the transitions below change it, and each is
    called only from its service in ``workflows.lifecycle.services``, which checks who may call
    it and records it. Conditions are pure functions of the instance.
    """

    model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    state = FSMField(default=S.DRAFT, choices=S.choices, max_length=20, protected=True, db_index=True)
    artifact_sha256 = models.CharField(max_length=64, db_index=True)
    artifact_path = models.CharField(max_length=300, editable=False)
    artifact_size = models.PositiveBigIntegerField()
    artifact_filename = models.CharField(max_length=255)
    format = models.CharField(max_length=10, choices=ArtifactFormat.choices)
    # [{"name": ..., "type": ...}, ...] in the order the artifact expects them.
    input_schema = models.JSONField()
    artifact_details = models.JSONField(default=dict)
    training_dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="+")
    validation_dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="+")
    code_repository = models.CharField(max_length=500, blank=True)
    code_commit = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True, help_text="Why this version was made.")
    # The version whose reviewers asked for changes that this one answers.
    resubmission_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resubmissions"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submitted_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    # Set when a version first becomes champion, so rollback can tell former champions apart.
    was_champion = models.BooleanField(default=False)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="unique_version_number"),
            models.UniqueConstraint(
                fields=["model"], condition=Q(state="champion"), name="one_champion_per_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.slug} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse(
            "registry:version_detail", kwargs={"slug": self.model.slug, "number": self.number}
        )

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        # The protected state refuses assignment, reloading included; reading back what the
        # database holds is not a change, so let the reload set it.
        self.__dict__.pop("state", None)
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)

    @property
    def code_ref(self) -> str:
        if self.code_repository and self.code_commit:
            return f"{self.code_repository}@{self.code_commit}"
        return self.code_repository or self.code_commit

    @property
    def feature_names(self) -> list[str]:
        return [feature["name"] for feature in self.input_schema]

    # --- The lifecycle graph -----------------------------------------------------------------
    @transition(field=state, source=S.DRAFT, target=S.TESTING)
    def submit(self):
        """Owner or contributor sends the version to its test suite."""

    @transition(field=state, source=S.TESTING, target=S.WARMING_UP)
    def pass_tests(self):
        """The test worker found every check passing."""

    @transition(field=state, source=S.TESTING, target=S.TESTS_FAILED)
    def fail_tests(self):
        """The test worker found a failing check, or the run errored."""

    @transition(field=state, source=S.WARMING_UP, target=S.IN_REVIEW)
    def pass_warmup(self):
        """The warm-up worker found the new version fit to review."""

    @transition(field=state, source=S.WARMING_UP, target=S.WARMUP_FAILED)
    def fail_warmup(self):
        """The warm-up worker found the new version unfit, or the run errored."""

    @transition(field=state, source=S.IN_REVIEW, target=S.APPROVED)
    def approve(self):
        """The last required approval landed."""

    @transition(field=state, source=S.IN_REVIEW, target=S.REJECTED)
    def reject(self):
        """A reviewer signed a rejection."""

    @transition(field=state, source=S.IN_REVIEW, target=S.CHANGES_REQUESTED)
    def request_changes(self):
        """A reviewer signed a request for changes: back to the submitter with findings."""

    @transition(field=state, source=[S.TESTS_FAILED, S.WARMUP_FAILED], target=S.TESTING)
    def rerun_tests(self):
        """A validator with the reviewer grant sends the version back to its tests."""

    @transition(field=state, source=WITHDRAWABLE, target=S.WITHDRAWN)
    def withdraw(self):
        """The owner takes the version out of the process before approval."""

    @transition(field=state, source=S.APPROVED, target=S.CHALLENGER)
    def promote_to_challenger(self):
        """An operator puts the approved version in shadow scoring."""

    @transition(field=state, source=S.CHALLENGER, target=S.CHAMPION)
    def promote_to_champion(self):
        """An operator makes the challenger the model's champion."""
        self.was_champion = True

    @transition(field=state, source=[S.APPROVED, S.CHALLENGER, S.CHAMPION], target=S.RETIRED)
    def retire(self):
        """An operator or owner retires the version; also used when a champion is replaced."""

    @transition(field=state, source=S.RETIRED, target=S.CHAMPION, conditions=[is_former_champion])
    def rollback(self):
        """An operator reinstates a former champion."""
