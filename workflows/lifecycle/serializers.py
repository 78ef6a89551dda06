"""API serializers of the lifecycle. They validate and shape; services decide."""

from rest_framework import serializers

from .models import Annotation, Decision, SignOff


class TransitionRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=40)
    annotation = serializers.CharField(required=False, allow_blank=True, default="")
    # An admin's promotion to champion before the shadow minimums are met; the annotation is the reason.
    override = serializers.BooleanField(required=False, default=False)


class SignOffRequestSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    meaning = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    # Checked by the service, so a missing annotation gets the same 400 everywhere.
    annotation = serializers.CharField(required=False, allow_blank=True, default="")
    password = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    otp = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)
    # Optional: the SHA-256 the signer reviewed; a signature on other bytes is refused (409).
    artifact_sha256 = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


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
