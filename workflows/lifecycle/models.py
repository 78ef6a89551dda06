"""What happened to a version: transitions and annotations, append-only."""

from django.conf import settings
from django.db import models

from governance.audit.models import ActorKind, AppendOnlyQuerySet
from governance.registry.models import RiskTier

# History rows are always by a person or an agent, never anonymous.
RECORDED_ACTOR_KINDS = [(value, label) for value, label in ActorKind.choices if value != ActorKind.ANONYMOUS]


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise TypeError(f"{type(self).__name__} records are append-only; add a new one instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} records are append-only.")


class TransitionRecord(AppendOnlyModel):
    """One state change of a version, written in the same transaction as the change."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="transitions")
    name = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    actor_kind = models.CharField(max_length=10, choices=RECORDED_ACTOR_KINDS)
    # For agents: the job's name ("test-runner", "scheduler"), whatever account it ran as.
    agent_name = models.CharField(max_length=100, blank=True)
    annotation = models.TextField(blank=True)
    # The approval policy numbers in force when the decision was taken.
    policy = models.JSONField(default=dict)
    # Extra facts, e.g. {"replaced_by": 4} on a champion retired by a promotion.
    details = models.JSONField(default=dict)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.name} {self.from_state} -> {self.to_state}"


class Annotation(AppendOnlyModel):
    """A note on a version by a person or an agent. A correction is a new annotation."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="annotations")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    actor_kind = models.CharField(max_length=10, choices=RECORDED_ACTOR_KINDS)
    agent_name = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.text[:40]}"


class AuthorRole(models.TextChoices):
    UPLOADER = "uploader", "Uploaded it"
    SUBMITTER = "submitter", "Submitted it"
    OWNER = "owner", "Owned the model when it was submitted"


class VersionAuthor(AppendOnlyModel):
    """Who authored a version, fixed when it is submitted: its uploader, whoever submitted it,
    and the model's owners at that moment (directly or through a group). Authorship is a fact
    about the version, so giving up a grant later does not undo it; none of these people signs
    the version (four eyes)."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="authors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, choices=AuthorRole.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "user", "role"], name="one_author_row_per_role")]

    def __str__(self) -> str:
        return f"{self.version}: {self.user_id} ({self.role})"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    REQUEST_CHANGES = "request_changes", "Request changes"


# The standard wording of a signature when the signer does not give their own.
DEFAULT_MEANING = {
    Decision.APPROVE: "Reviewed and approved for production use",
    Decision.REJECT: "Reviewed and rejected",
    Decision.REQUEST_CHANGES: "Reviewed; changes are required before approval",
}


class SignOff(AppendOnlyModel):
    """A reviewer's electronic signature on one version.

    It keeps what the signature meant at the moment of signing: the signer's full name as it
    was then, the meaning they signed, and the SHA-256 of the artifact they reviewed, so the
    signature stays bound to exactly those bytes whatever changes later.
    """

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="signoffs")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signoffs")
    signer_username = models.CharField(max_length=150)
    signer_full_name = models.CharField(max_length=300)
    decision = models.CharField(max_length=20, choices=Decision.choices)
    meaning = models.CharField(max_length=300)
    annotation = models.TextField()
    artifact_sha256 = models.CharField(max_length=64)
    # True when a one-time code was checked as well as the password.
    with_mfa = models.BooleanField(default=False)
    # The approval policy in force when the signature was made.
    policy = models.JSONField(default=dict)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "signer"], name="one_signoff_per_signer_per_version"),
        ]
        verbose_name = "sign-off"

    def __str__(self) -> str:
        return f"{self.version}: {self.decision} by {self.signer_full_name}"


class ApprovalPolicy(models.Model):
    """How many approvals a version of a model in this risk tier needs, and how long a challenger
    shadows the champion before it may replace it. Edited by admins."""

    risk_tier = models.CharField(max_length=10, unique=True, choices=RiskTier.choices)
    required_approvals = models.PositiveSmallIntegerField(
        help_text="Approvals needed before a version of a model in this tier is approved."
    )
    min_shadow_hours = models.PositiveIntegerField(
        default=0,
        help_text="Hours a challenger scores in shadow beside the champion before it may become champion.",
    )
    min_shadow_requests = models.PositiveIntegerField(
        default=0,
        help_text="Requests a challenger scores in shadow beside the champion before it may become champion.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "approval policy"
        verbose_name_plural = "approval policies"
        ordering = ["required_approvals", "risk_tier"]
        constraints = [
            models.CheckConstraint(condition=models.Q(required_approvals__gte=1), name="at_least_one_approval"),
        ]

    def __str__(self) -> str:
        return f"{self.get_risk_tier_display()}: {self.required_approvals} approval(s)"


class FindingKind(models.TextChoices):
    CONDITION = "condition", "Condition"
    FINDING = "finding", "Finding"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Finding(models.Model):
    """What a reviewer found on a version. A condition comes with an approval and must be closed
    by a validator before the version becomes champion (or by its due date); a finding comes
    with a request for changes or a rejection. Only its status changes, through
    ``workflows.lifecycle.findings``; each change is a ``FindingEvent`` and an audit entry."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="findings")
    signoff = models.ForeignKey(SignOff, null=True, blank=True, on_delete=models.PROTECT, related_name="findings")
    kind = models.CharField(max_length=10, choices=FindingKind.choices)
    description = models.TextField()
    severity = models.CharField(max_length=10, choices=Severity.choices)
    # Who must act on it (the submitter unless the reviewer names someone else).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    due = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN, db_index=True)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(auto_now_add=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    close_annotation = models.TextField(blank=True)

    class Meta:
        ordering = ["version", "raised_at", "id"]
        indexes = [models.Index(fields=["kind", "status", "due"], name="finding_open_due_idx")]

    def __str__(self) -> str:
        return f"{self.version}: {self.get_kind_display()} {self.description[:40]}"


class FindingEvent(AppendOnlyModel):
    """One step in a finding's history: raised, closed, flagged overdue."""

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    actor_kind = models.CharField(max_length=10, choices=RECORDED_ACTOR_KINDS)
    agent_name = models.CharField(max_length=100, blank=True)
    annotation = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.finding_id}: {self.action}"
