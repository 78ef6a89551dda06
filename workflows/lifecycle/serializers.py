"""API serializers of the lifecycle. They validate and shape; services decide."""

from rest_framework import serializers

from .findings import is_overdue
from .models import Annotation, Decision, Finding, Severity, SignOff


class TransitionRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=40)
    annotation = serializers.CharField(required=False, allow_blank=True, default="")
    # An admin's promotion to champion before the shadow minimums are met; the annotation is the reason.
    override = serializers.BooleanField(required=False, default=False)


class ConditionRequestSerializer(serializers.Serializer):
    description = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    due = serializers.DateField(input_formats=["%Y-%m-%d"])
    # Optional: who must act on it (a username); by default the version's submitter.
    owner = serializers.CharField(required=False, allow_blank=True, default="")


class FindingRequestSerializer(serializers.Serializer):
    description = serializers.CharField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    due = serializers.DateField(input_formats=["%Y-%m-%d"], required=False, allow_null=True, default=None)
    owner = serializers.CharField(required=False, allow_blank=True, default="")


class SignOffRequestSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    meaning = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    # Checked by the service, so a missing annotation gets the same 400 everywhere.
    annotation = serializers.CharField(required=False, allow_blank=True, default="")
    password = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    otp = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)
    # Optional: the SHA-256 the signer reviewed; a signature on other bytes is refused (409).
    artifact_sha256 = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    # Which go with which decision, and the due dates, are the service's rules (same 400 everywhere).
    conditions = ConditionRequestSerializer(many=True, required=False, default=list)
    findings = FindingRequestSerializer(many=True, required=False, default=list)
    # The signer confirms having reviewed the evidence summary; it becomes part of the meaning.
    evidence_reviewed = serializers.BooleanField(required=False, default=False)


class FindingCloseRequestSerializer(serializers.Serializer):
    # Checked by the service, so a missing annotation gets the same 400 everywhere.
    annotation = serializers.CharField(required=False, allow_blank=True, default="")


class AnnotationRequestSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, default="")


class SignOffSerializer(serializers.ModelSerializer):
    signer = serializers.CharField(source="signer_username", read_only=True)

    class Meta:
        model = SignOff
        fields = [
            "id", "signer", "signer_full_name", "decision", "meaning", "annotation", "artifact_sha256",
            "with_mfa", "policy", "at",
        ]


class FindingEventSerializer(serializers.Serializer):
    action = serializers.CharField()
    actor = serializers.SerializerMethodField()
    actor_kind = serializers.CharField()
    annotation = serializers.CharField()
    at = serializers.DateTimeField()

    def get_actor(self, event) -> str:
        return event.agent_name or (event.actor.username if event.actor_id else "")


class FindingSerializer(serializers.ModelSerializer):
    """A condition or finding: people by username, ``overdue`` for a condition open past its due date."""

    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    raised_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    overdue = serializers.SerializerMethodField()
    events = FindingEventSerializer(many=True, read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id", "kind", "description", "severity", "due", "status", "owner", "raised_by", "raised_at",
            "closed_by", "closed_at", "close_annotation", "version", "overdue", "events",
        ]

    def get_overdue(self, finding: Finding) -> bool:
        return is_overdue(finding)


class AnnotationSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = ["id", "text", "author", "actor_kind", "agent_name", "at"]

    def get_author(self, note: Annotation) -> str:
        return note.agent_name or (note.author.username if note.author_id else "")


class HistoryEntrySerializer(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    from_state = serializers.CharField(allow_null=True)
    to_state = serializers.CharField(allow_null=True)
    actor = serializers.CharField()
    actor_kind = serializers.CharField()
    annotation = serializers.CharField(allow_blank=True)
    at = serializers.DateTimeField()
    details = serializers.JSONField()
