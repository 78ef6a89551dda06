"""API serializers for people and grants. They validate and shape; services decide."""

from rest_framework import serializers

from .models import ModelGrant, User
from .roles import GlobalRole, ObjectRole


class UserCreateSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField(allow_blank=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    password = serializers.CharField(required=False, allow_blank=True, default="", write_only=True, trim_whitespace=False)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=GlobalRole.choices), allow_empty=True)
    is_service_account = serializers.BooleanField(required=False, default=False)


class UserRolesSerializer(serializers.Serializer):
    roles = serializers.ListField(child=serializers.ChoiceField(choices=GlobalRole.choices), allow_empty=True)


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.ListField(source="role_names", read_only=True)

    class Meta:
        model = User
        fields = ["username", "email", "first_name", "last_name", "roles", "is_active", "is_service_account"]


class GrantCreateSerializer(serializers.Serializer):
    username = serializers.CharField(required=False, allow_blank=True, default="")
    group = serializers.CharField(required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=ObjectRole.choices)

    def validate(self, data):
        if data["username"] and data["group"]:
            raise serializers.ValidationError({"username": ["Give either a username or a group, not both."]})
        if not data["username"] and not data["group"]:
            raise serializers.ValidationError({"username": ["Give a username or a group."]})
        return data


class GrantSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug", read_only=True)
    granted_by = serializers.SerializerMethodField()

    class Meta:
        model = ModelGrant
        fields = ["id", "model", "role", "granted_by", "created_at"]

    def get_granted_by(self, grant: ModelGrant) -> str | None:
        return grant.granted_by.username if grant.granted_by_id else None

    def to_representation(self, grant: ModelGrant):
        data = super().to_representation(grant)
        # Exactly one of the two keys, as the request named it.
        if grant.user_id:
            data["username"] = grant.user.username
        else:
            data["group"] = grant.group.name
        return data
