"""The drift agent's records: each model's threshold, and each check of a champion's inputs."""

from django.db import models


class DriftPolicy(models.Model):
    """A model's drift threshold: the PSI over which the drift agent flags it (admins set it;
    a model without a row uses ``GOVERNANCE_DRIFT_PSI_THRESHOLD``). Changes are in auditlog."""

    model = models.OneToOneField("registry.MLModel", on_delete=models.CASCADE, related_name="drift_policy")
    psi_threshold = models.FloatField(help_text="PSI of any feature, or of the scores, over which the model is flagged.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "drift threshold"

    def __str__(self) -> str:
        return f"Drift threshold of {self.model}: {self.psi_threshold}"


class DriftCheck(models.Model):
    """One look by the drift agent at a champion's recent production inputs and scores,
    against its training data: the PSI of each feature and of the scores."""

    model = models.ForeignKey("registry.MLModel", on_delete=models.PROTECT, related_name="drift_checks")
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="drift_checks")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    window_hours = models.FloatField()
    rows = models.PositiveIntegerField()
    features = models.JSONField(default=list)  # [{"name", "psi"}] largest first
    score_psi = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    drifted = models.BooleanField(default=False)
    annotation = models.ForeignKey(
        "lifecycle.Annotation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["model", "-at"], name="drift_recent_idx")]

    def __str__(self) -> str:
        return f"Drift check of {self.version} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def drifted_features(self) -> list[dict]:
        return [feature for feature in self.features if feature["psi"] > self.threshold]
