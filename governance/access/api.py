"""API v1 for people and per-model grants.

Who may call what:
- ``POST /users/`` and ``POST /users/{username}/deactivate/``: admins only (403 for others).
- ``GET /users/{username}/``: admins, and the user themself; anyone else gets 404, so the API
  does not reveal which usernames exist. ``PATCH /users/{username}/`` ``{roles}`` replaces the
  user's global roles: admins only (403 for others, who see themselves; 404 for the rest).
- ``/models/{slug}/grants/``: anyone who can see the model may list its grants; who adds and
  removes a grant of each role is ``permissions.GRANT_GIVERS`` (owners: owner, contributor,
  viewer; validators independent of the model: reviewer; admins: any), 403 for anyone else who
  can see the model; a model you cannot see is 404.
"""

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import paginated, validated
from governance.registry import selectors as registry_selectors

from . import permissions, selectors, services
from .models import User
from .serializers import (
    GrantCreateSerializer,
    GrantSerializer,
    UserCreateSerializer,
    UserRolesSerializer,
    UserSerializer,
)


MANAGE_REFUSAL = "Only the model's owners, validators independent of it and admins manage its grants."


def _require_admin(user) -> None:
    if not selectors.is_admin(user):
        raise PermissionDenied("Only admins manage users.")


class UserCreate(APIView):
    def post(self, request):
        _require_admin(request.user)
        user = services.user_create(actor=request.user, **validated(UserCreateSerializer, request))
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetail(APIView):
    def get(self, request, username):
        return Response(UserSerializer(selectors.user_get(viewer=request.user, username=username)).data)

    def patch(self, request, username):
        user = selectors.user_get(viewer=request.user, username=username)
        _require_admin(request.user)
        roles = validated(UserRolesSerializer, request)["roles"]
        user = services.user_set_roles(actor=request.user, user=user, roles=roles)
        return Response(UserSerializer(selectors.user_get(viewer=request.user, username=user.username)).data)


class UserDeactivate(APIView):
    def post(self, request, username):
        _require_admin(request.user)
        user = selectors.user_get(viewer=request.user, username=username)
        user = services.user_deactivate(actor=request.user, user=user)
        return Response(UserSerializer(user).data)


class GrantListCreate(APIView):
    def get(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        return paginated(self, selectors.grants_of(model=model), GrantSerializer)

    def post(self, request, slug):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        if not permissions.can_manage_grants(request.user, model):
            raise PermissionDenied(MANAGE_REFUSAL)
        data = validated(GrantCreateSerializer, request)
        user = group = None
        if data["username"]:
            user = User.objects.filter(username=data["username"]).first()
            if user is None:
                raise services.GrantError(f"No user called '{data['username']}'.", field="username")
        else:
            group = Group.objects.filter(name=data["group"]).first()
            if group is None:
                raise services.GrantError(f"No group called '{data['group']}'.", field="group")
        grant, created = services.grant_give(actor=request.user, model=model, role=data["role"], user=user, group=group)
        if not created:
            # The grant found holds its model and people by id only: read them with it.
            grant = selectors.grant_get(model=model, pk=grant.pk)
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class GrantDetail(APIView):
    def get(self, request, slug, pk):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        return Response(GrantSerializer(selectors.grant_get(model=model, pk=pk)).data)

    def delete(self, request, slug, pk):
        model = registry_selectors.model_get(user=request.user, slug=slug)
        if not permissions.can_manage_grants(request.user, model):
            raise PermissionDenied(MANAGE_REFUSAL)
        services.grant_revoke(actor=request.user, grant=selectors.grant_get(model=model, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
