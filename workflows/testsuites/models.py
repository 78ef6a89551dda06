"""Test suites, their runs and evidence, warm-up runs, recorded production inputs, agent runs.

Evidence is immutable: a check result is written once, in the same transaction as the run's
final status, and a finished run refuses any later change.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERRORED = "errored", "Errored"


ACTIVE_STATUSES = [RunStatus.QUEUED, RunStatus.RUNNING]
FINAL_STATUSES = [RunStatus.PASSED, RunStatus.FAILED, RunStatus.ERRORED]


class CheckOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"


class TestSuiteConfig(models.Model):
    """The checks a model's versions must pass, each with its threshold.

    A model without a row runs the defaults of its risk tier (see ``checks.default_checks``).
    Changes are recorded by django-auditlog (registered in apps.py).
    """

    __test__ = False  # not a pytest class

    model = models.OneToOneField("registry.MLModel", on_delete=models.CASCADE, related_name="test_suite")
    # [{"kind": "metric", "metric": "accuracy", "threshold": 0.8}, ...]; validated by checks.validate_checks.
    checks = models.JSONField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "test suite configuration"

    def __str__(self) -> str:
        return f"Test suite of {self.model}"


class ProposalStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a validator"
    APPROVED = "approved", "Approved and applied"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn by its author"
    SUPERSEDED = "superseded", "Superseded by a later change"


class SuiteChangeProposal(models.Model):
    """An owner's change to a model's test suite, which applies only once a validator approves it.

    ``base_checks`` is the suite in force when it was proposed (the diff's "old" side); a
    proposal whose base is no longer the suite in force is superseded rather than applied.
    """

    model = models.ForeignKey("registry.MLModel", on_delete=models.PROTECT, related_name="suite_proposals")
    base_checks = models.JSONField()
    proposed_checks = models.JSONField()
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PENDING, db_index=True)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        verbose_name = "test suite change proposal"

    def __str__(self) -> str:
        return f"Suite change for {self.model} ({self.status})"


class FinishedRunGuard(models.Model):
    """A run that has finished is evidence: it refuses to be saved again or deleted."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            stored = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored in FINAL_STATUSES:
                raise TypeError(f"{type(self).__name__} {self.pk} has finished; its evidence is immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} records are evidence and are never deleted.")


class AgentJob(FinishedRunGuard):
    """What test runs and warm-up runs share: a claimable, recoverable unit of worker work.

    ``attempt`` counts deliveries that claimed the job; every write of a delivery is
    conditioned on its attempt, so a zombie delivery (its worker presumed dead) writes nothing.
    ``heartbeat_at`` is refreshed while a worker runs the job; a stale heartbeat means the
    worker died and the job may be taken over.
    """

    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    attempt = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    log = models.TextField(blank=True)
    library_versions = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class TestRun(AgentJob):
    """One run of a version's test suite."""

    __test__ = False  # not a pytest class

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="test_runs")
    # 1, 2, ... per version: a rerun after tests_failed is a new run.
    sequence = models.PositiveIntegerField()
    # The transition (submit or rerun_tests) that asked for this run: one run per request.
    trigger_record = models.OneToOneField(
        "lifecycle.TransitionRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The suite in force when the run started: the checks and thresholds it was held to.
    config_snapshot = models.JSONField(default=list)
    # The data behind the evidence charts (ROC and precision-recall curves, confusion matrix,
    # calibration; residuals, predicted against actual), for the version and the champion,
    # computed on the validation data in the same run and written with its final status.
    charts = models.JSONField(default=dict)
    checks_total = models.PositiveIntegerField(default=0)
    checks_done = models.PositiveIntegerField(default=0)
    current_check = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["version", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["version", "sequence"], name="unique_test_run_sequence"),
            models.UniqueConstraint(
                fields=["version"], condition=Q(status__in=["queued", "running"]), name="one_active_test_run"
            ),
        ]

    def __str__(self) -> str:
        return f"Test run {self.sequence} of {self.version}"

    @property
    def checks_planned(self) -> int:
        return self.checks_total or len(self.config_snapshot)


class CheckResult(models.Model):
    """The evidence of one check in one run; written once with the run's final status."""

    run = models.ForeignKey(TestRun, on_delete=models.PROTECT, related_name="results")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40)
    measured = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    comparison = models.CharField(max_length=4, blank=True)
    outcome = models.CharField(max_length=10, choices=CheckOutcome.choices)
    duration_ms = models.FloatField()
    details = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="unique_check_position")]

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise TypeError("Check results are evidence; they are written once.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Check results are evidence and are never deleted.")


class WarmupSource(models.TextChoices):
    PRODUCTION = "production", "Production inputs"
    VALIDATION = "validation", "Validation data (no production traffic yet)"


class WarmupRun(AgentJob):
    """The new version and the champion scored on the same inputs, and what differed."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="warmup_runs")
    champion = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    trigger_record = models.OneToOneField(
        "lifecycle.TransitionRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(max_length=12, choices=WarmupSource.choices, blank=True)
    rows = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    # Classification: share of rows where both give the same label. Null for regression.
    agreement = models.FloatField(null=True, blank=True)
    # Regression: quantiles of (new - champion); classification: of the score difference.
    diff_distribution = models.JSONField(default=dict)
    psi = models.FloatField(null=True, blank=True)
    latency = models.JSONField(default=dict)  # {"new": {"p50_ms", "p95_ms"}, "champion": {...}}
    histograms = models.JSONField(default=dict)  # score histograms for the charts
    largest_disagreements = models.JSONField(default=list)
    policy = models.JSONField(default=dict)
    outcome_reasons = models.JSONField(default=list)

    class Meta:
        ordering = ["version", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version"], condition=Q(status__in=["queued", "running"]), name="one_active_warmup_run"
            ),
        ]

    def __str__(self) -> str:
        return f"Warm-up of {self.version}"


class ScoringRecord(models.Model):
    """One scoring of production inputs by one version: the trace of a gateway answer.

    The champion's record (``shadow`` false) is written before the caller gets its answer and
    holds the inputs; it is what warm-up replays. Each challenger that scored the same inputs in
    the background adds a record under the same ``trace_id`` with ``shadow`` true, its outputs
    (or its ``error``) and no copy of the inputs.
    """

    model = models.ForeignKey("registry.MLModel", on_delete=models.PROTECT, related_name="scoring_records")
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="scoring_records")
    trace_id = models.CharField(max_length=64, db_index=True)
    inputs = models.JSONField()  # [{feature: value, ...}, ...]
    outputs = models.JSONField(default=dict)  # {"predictions": [...], "probabilities": [...]}
    shadow = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The bytes that scored: the version's artifact digest when it scored.
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField(default=0)
    # Milliseconds the model took on these rows (inputs converted, outputs checked).
    latency_ms = models.FloatField(null=True, blank=True)
    # Who asked (the shadow records repeat the caller of their trace), and through which token.
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    via_token = models.CharField(max_length=120, blank=True)
    # Shadow scoring only: why the challenger gave no outputs.
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # A model's answers newest first (the traces list, warm-up's replay, the traffic of
            # the last hours): partial, so that the planner matches ``shadow = false`` exactly
            # and the order needs no sort. ``shadow`` is repeated as the last column so that
            # SQLite counts from the index alone (PostgreSQL needs no predicate column).
            models.Index(
                fields=["model", "-at", "-id", "shadow"], condition=Q(shadow=False), name="scoring_answers_idx"
            ),
            # The shadow scorings' summary per version and the challenger's count, from the index
            # alone, for any window.
            models.Index(
                fields=["model", "at", "version", "error", "shadow"], condition=Q(shadow=True), name="scoring_shadow_idx"
            ),
        ]
        constraints = [
            # One answer per trace, and one scoring per version within a trace (a shadow task
            # delivered twice records once).
            models.UniqueConstraint(fields=["trace_id"], condition=Q(shadow=False), name="one_answer_per_trace"),
            models.UniqueConstraint(fields=["trace_id", "version"], name="one_scoring_per_version_per_trace"),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id} ({self.version})"


class AgentRun(models.Model):
    """One run of a scheduled agent (recovery, review reminders): what it looked at and did."""

    agent_name = models.CharField(max_length=100, db_index=True)
    action = models.CharField(max_length=100)
    summary = models.TextField()
    data = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.agent_name}: {self.summary[:60]}"


class ReviewReminder(models.Model):
    """A champion flagged for its periodic review, so its owners are told once per due date."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="review_reminders")
    due_at = models.DateTimeField()
    notified = models.JSONField(default=list)  # usernames mailed
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["version", "due_at"], name="one_reminder_per_due_date")]

    def __str__(self) -> str:
        return f"Review due for {self.version} since {self.due_at:%Y-%m-%d}"
