"""API serializers of the registry. They validate and shape; services decide."""

from rest_framework import serializers

from governance.access.roles import ObjectRole
from governance.version_wiring import version_api_fields

from .models import Dataset, MLModel, ModelVersion, RiskTier, Task


class ModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices)
    task = serializers.ChoiceField(choices=Task.choices)


class RiskTierConfirmSerializer(serializers.Serializer):
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices)
    # Checked by the service, so a missing reason gets the same 400 everywhere.
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ModelSerializer(serializers.ModelSerializer):
    owners = serializers.SerializerMethodField()
    effective_risk_tier = serializers.CharField(read_only=True)
    risk_tier_confirmed_by = serializers.SerializerMethodField()
    champion = serializers.SerializerMethodField()
    newest_version = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = MLModel
        fields = [
            "slug", "name", "description", "risk_tier", "risk_tier_status", "effective_risk_tier",
            "risk_tier_confirmed_by", "risk_tier_confirmed_at", "risk_tier_reason", "task", "owners", "champion",
            "newest_version", "created_by", "created_at",
        ]

    def get_created_by(self, model: MLModel) -> str:
        # model_list() annotates the username; a single model reads its creator.
        username = getattr(model, "created_by_username", None)
        return username if username is not None else model.created_by.username

    def get_risk_tier_confirmed_by(self, model: MLModel) -> str | None:
        if hasattr(model, "risk_tier_confirmed_by_username"):
            return model.risk_tier_confirmed_by_username
        return model.risk_tier_confirmed_by.username if model.risk_tier_confirmed_by_id else None

    def get_owners(self, model: MLModel) -> list[str]:
        owners = []
        # model_list() loads the owner grants with the page; a single model reads them here.
        grants = getattr(model, "owner_grants", None)
        if grants is None:
            grants = model.grants.filter(role=ObjectRole.OWNER).select_related("user", "group")
        for grant in grants:
            if grant.role == ObjectRole.OWNER:
                owners.append(grant.user.username if grant.user_id else f"group:{grant.group.name}")
        return owners

    def get_champion(self, model: MLModel):
        if hasattr(model, "champion_number"):
            return model.champion_number
        champion = model.versions.filter(state="champion").values_list("number", flat=True).first()
        return champion

    def get_newest_version(self, model: MLModel):
        if hasattr(model, "newest_number"):
            number, state = model.newest_number, model.newest_state
        else:
            newest = model.versions.order_by("-number").values("number", "state").first()
            number, state = (newest["number"], newest["state"]) if newest else (None, None)
        return {"number": number, "state": state} if number else None


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(allow_empty_file=True)
    target = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class DatasetSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = Dataset
        fields = ["id", "name", "sha256", "rows", "columns", "target", "size", "uploaded_by", "created_at"]


class DatasetRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "name", "sha256", "rows"]


class VersionCreateSerializer(serializers.Serializer):
    artifact = serializers.FileField(allow_empty_file=True)
    training_dataset = serializers.IntegerField()
    validation_dataset = serializers.IntegerField()
    code_ref = serializers.CharField(max_length=600, required=False, allow_blank=True, default="")
    annotation = serializers.CharField(required=False, allow_blank=True, default="")
    # The number of the version in changes_requested that this one answers.
    resubmission_of = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)


class VersionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug", read_only=True)
    submitted_by = serializers.CharField(source="submitted_by.username", read_only=True)
    training_dataset = DatasetRefSerializer(read_only=True)
    validation_dataset = DatasetRefSerializer(read_only=True)
    code_ref = serializers.CharField(read_only=True)
    resubmission_of = serializers.IntegerField(source="resubmission_of.number", read_only=True, default=None)

    class Meta:
        model = ModelVersion
        fields = [
            "model", "number", "state", "format", "artifact_sha256", "artifact_size", "input_schema",
            "training_dataset", "validation_dataset", "code_ref", "note", "submitted_by", "created_at",
            "state_changed_at", "resubmission_of",
        ]

    def to_representation(self, version):
        data = super().to_representation(version)
        request = self.context.get("request")
        # Lifecycle and test evidence, from the workflow apps (listed in governance/version_wiring.py).
        for name, field in version_api_fields().items():
            data[name] = field(version, request)
        return data
