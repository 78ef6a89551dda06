"""The SCIM 2.0 service provider at /scim/v2/ (django-scim2), wired to the directory services.

django-scim2 serves the protocol (routes, list responses, filters, errors); the classes here
are the extension points its ``SCIM_SERVICE_PROVIDER`` setting names:

- ``ScimTokenAuthCheck`` (``AUTH_CHECK_MIDDLEWARE``): the identity provider authenticates with a
  SCIM token (``Authorization: Bearer scim_…``), and with nothing else: a browser session or an
  API token is refused with 401. Each refusal is in the audit trail (rate limited). An accepted
  request runs as the directory's agent, so every audit entry it causes names the directory.
- ``ScimUser`` and ``ScimGroup`` (``USER_ADAPTER``, ``GROUP_ADAPTER``): read the portal's users and
  the directory's groups as SCIM resources, and hand every write to ``services``. PATCH is
  read the way Entra ID, Okta and Keycloak send it (with or without a ``path``, booleans as
  JSON or as text, ``members[value eq "…"]`` filters); attributes the portal does not keep
  (titles, phone numbers, the enterprise extension) are accepted and ignored.

A SCIM id is the user's or the group's primary key. Service accounts are not shown: the
directory manages people only. DELETE of a user deactivates it; the row stays.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import timedelta

from django.http import HttpResponse
from django.utils import timezone
from django_scim import constants
from django_scim import exceptions as scim_errors
from django_scim.adapters import SCIMGroup, SCIMUser
from django_scim.middleware import SCIMAuthCheckMiddleware
from django_scim.models import SCIMServiceProviderConfig
from rest_framework.authentication import get_authorization_header

from governance.access.services import DIRECTORY_AGENT, directory_actor
from governance.audit.context import audit_context, correlation_id_get
from governance.errors import ActionError

from . import services
from .models import DirectoryAccount, ScimToken
from .scim_filters import DirectoryGroupFilter, PortalUserFilter

# last_used_at of a SCIM token is written at most this often.
LAST_USED_RESOLUTION = timedelta(seconds=60)

USER_SCHEMA_PREFIX = constants.SchemaURI.USER + ":"
GROUP_SCHEMA_PREFIX = constants.SchemaURI.GROUP + ":"


# --- Authentication ----------------------------------------------------------------------------


def _refusal(detail: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps({"schemas": [constants.SchemaURI.ERROR], "detail": detail, "status": "401"}),
        content_type=constants.SCIM_CONTENT_TYPE,
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="scim"'
    return response


def _record_refusal(request, reason: str, token: ScimToken | None = None) -> None:
    from governance.access.auth_failures import auth_failure_record

    named = f"SCIM token “{token.label}”" if token is not None else "A SCIM call"
    auth_failure_record(
        request=request,
        action="scim.token_refused",
        reason=reason,
        data={"scim_token_id": token.pk, "prefix": token.key_prefix} if token is not None else {},
        summary=f"{named} refused: {reason.replace('_', ' ')}.",
    )


class ScimTokenAuthCheck(SCIMAuthCheckMiddleware):
    """Let a SCIM request through only with a live SCIM token, as the directory's agent."""

    def __call__(self, request, *args, **kwargs):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            _record_refusal(request, "no_token")
            return _refusal("A SCIM token is required: Authorization: Bearer <token>.")
        try:
            raw = header[1].decode() if len(header) == 2 else ""
        except UnicodeError:
            raw = ""
        token = ScimToken.find(raw) if raw else None
        if token is None or not token.is_usable:
            reason = "malformed_token" if not raw else ("revoked_token" if token is not None else "unknown_token")
            _record_refusal(request, reason, token)
            return _refusal("Invalid or revoked SCIM token.")
        agent = directory_actor()
        if not agent.is_active:
            _record_refusal(request, "directory_agent_inactive", token)
            return _refusal("The directory's agent account is deactivated.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        resource_id = kwargs.get("uuid") or ""
        match = getattr(request, "resolver_match", None)
        a_resource = match is not None and match.url_name in ("users", "groups")
        if resource_id and a_resource and not (resource_id.isascii() and resource_id.isdigit()):
            # A SCIM id here is a primary key: anything else names no resource.
            return HttpResponse(
                json.dumps(scim_errors.NotFoundError(resource_id).to_dict()),
                content_type=constants.SCIM_CONTENT_TYPE,
                status=404,
            )
        # Whoever the session says, this request is the directory's.
        request.user = agent
        request.scim_token = token
        with audit_context(correlation_id=correlation_id_get(), actor=agent, agent_name=DIRECTORY_AGENT):
            return super().__call__(request, *args, **kwargs)


def base_location(request=None, *args, **kwargs) -> str:
    """Where the SCIM resources are, for their ``meta.location``: the host the call came to."""
    from django.conf import settings

    if request is not None:
        return request.build_absolute_uri("/")
    return settings.GOVERNANCE_BASE_URL.rstrip("/") + "/"


def extra_filter_kwargs_getter(model):
    """People only: service accounts are not the directory's and are not shown to it."""
    from django.contrib.auth import get_user_model

    people_only = model is get_user_model()

    def extra_filter_kwargs(request, *args, **kwargs):
        return {"is_service_account": False} if people_only else {}

    return extra_filter_kwargs


class ServiceProviderConfig(SCIMServiceProviderConfig):
    def to_dict(self):
        config = super().to_dict()
        config["filter"] = {"supported": True, "maxResults": 50}
        config["changePassword"] = {"supported": False}
        return config


# --- Helpers for reading what identity providers send ----------------------------------------


@contextlib.contextmanager
def _as_scim_errors():
    """A service's refusal, as the SCIM error of the same status."""
    try:
        yield
    except ActionError as exc:
        if exc.code in ("duplicate", "uniqueness"):
            raise scim_errors.SCIMException(exc.message, status=409, scim_type="uniqueness")
        raise scim_errors.SCIMException(exc.message, status=exc.status)


def _bool(value, name: str) -> bool:
    """A boolean as JSON or as the text some directories send ("True", "false")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise scim_errors.BadRequestError(f'"{name}" should be a boolean.', scim_type="invalidValue")


def _text(value, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise scim_errors.BadRequestError(f'"{name}" should be a string.', scim_type="invalidValue")
    return value.strip()


def _primary_email(value) -> str:
    if isinstance(value, dict):  # OneLogin sends one object instead of a list
        value = [value]
    if not isinstance(value, list):
        raise scim_errors.BadRequestError('"emails" should be a list.', scim_type="invalidValue")
    emails = [item for item in value if isinstance(item, dict) and item.get("value")]
    emails.sort(key=lambda item: (not item.get("primary"), item.get("type") != "work"))
    return _text(emails[0]["value"], "emails") if emails else ""


def _strip_schema(path: str, prefix: str) -> str:
    return path[len(prefix):] if path.lower().startswith(prefix.lower()) else path


def _operations(operations) -> list[tuple[str, str, object]]:
    """(op, path, value) of each PATCH operation, op in lower case and a missing path ''."""
    if not isinstance(operations, list):
        raise scim_errors.BadRequestError('"Operations" should be a list.', scim_type="invalidSyntax")
    found = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise scim_errors.BadRequestError("Each operation should be an object.", scim_type="invalidSyntax")
        op = str(operation.get("op", "")).lower()
        if op not in constants.VALID_PATCH_OPS:
            raise scim_errors.BadRequestError(f'Unknown PATCH op "{operation.get("op")}".', scim_type="invalidSyntax")
        found.append((op, str(operation.get("path") or ""), operation.get("value")))
    return found


# --- Users -------------------------------------------------------------------------------------


class ScimUser(SCIMUser):
    id_field = "id"
    ATTR_MAP = PortalUserFilter.attr_map

    def __init__(self, obj, request=None):
        super().__init__(obj, request)
        self._incoming: dict = {}

    @property
    def _account(self) -> DirectoryAccount | None:
        if not self.obj.pk:
            return None
        return DirectoryAccount.objects.filter(user=self.obj).first()

    @property
    def display_name(self):
        return self.obj.get_full_name() or self.obj.username

    @property
    def groups(self):
        if not self.obj.pk:
            return []
        found = []
        for group in self.obj.directory_groups.order_by("display_name"):
            adapter = ScimGroup(group, self.request)
            found.append({"value": adapter.id, "$ref": adapter.location, "display": group.display_name})
        return found

    def to_dict(self):
        account = self._account
        found = {
            "schemas": [constants.SchemaURI.USER],
            "id": self.id,
            "userName": self.obj.username,
            "name": {
                "givenName": self.obj.first_name,
                "familyName": self.obj.last_name,
                "formatted": self.display_name,
            },
            "displayName": self.display_name,
            "emails": [{"value": self.obj.email, "primary": True, "type": "work"}] if self.obj.email else [],
            "active": self.obj.is_active,
            "groups": self.groups,
            "meta": self.meta,
        }
        if account is not None and account.external_id:
            found["externalId"] = account.external_id
        return found

    def validate_dict(self, d):
        if not isinstance(d, dict):
            raise scim_errors.BadRequestError("The body should be a User object.", scim_type="invalidSyntax")

    def from_dict(self, d):
        """Read a whole User (POST, PUT); nothing is written until ``save``."""
        name = d.get("name") or {}
        incoming = {
            "username": _text(d.get("userName"), "userName"),
            "first_name": _text(name.get("givenName"), "name.givenName") if isinstance(name, dict) else "",
            "last_name": _text(name.get("familyName"), "name.familyName") if isinstance(name, dict) else "",
            "email": _primary_email(d.get("emails") or []),
            "external_id": _text(d.get("externalId"), "externalId"),
        }
        if "active" in d:
            incoming["active"] = _bool(d["active"], "active")
        if not incoming["username"]:
            raise scim_errors.BadRequestError("A user needs a userName.", scim_type="invalidValue")
        if incoming["email"]:
            self.validate_email(incoming["email"])
        self._incoming = incoming

    def save(self):
        incoming = dict(self._incoming)
        actor = self.request.user
        with _as_scim_errors():
            if self.obj.pk is None:
                self.obj = services.directory_user_provision(actor=actor, **incoming)
            else:
                self.obj = services.directory_user_update(actor=actor, user=self.obj, **incoming)

    def delete(self):
        with _as_scim_errors():
            services.directory_user_remove(actor=self.request.user, user=self.obj)

    def handle_operations(self, operations):
        """Apply a PATCH: every operation is read first, then the changes go to the service at once."""
        changes: dict = {}
        for op, path, value in _operations(operations):
            if not path:
                if not isinstance(value, dict):
                    raise scim_errors.BadRequestError(
                        "An operation without a path needs an object value.", scim_type="invalidSyntax"
                    )
                for key, item in value.items():
                    self._read_attribute(op, key, item, changes)
            else:
                self._read_attribute(op, path, value, changes)
        if "email" in changes and changes["email"]:
            self.validate_email(changes["email"])
        if changes:
            with _as_scim_errors():
                self.obj = services.directory_user_update(actor=self.request.user, user=self.obj, **changes)

    def _read_attribute(self, op: str, path: str, value, changes: dict) -> None:
        path = _strip_schema(path, USER_SCHEMA_PREFIX)
        key = path.lower()
        removing = op == "remove"
        if key == "active":
            if not removing:
                changes["active"] = _bool(value, "active")
        elif key == "username":
            if removing:
                raise scim_errors.BadRequestError("userName cannot be removed.", scim_type="mutability")
            changes["username"] = _text(value, "userName")
        elif key == "externalid":
            changes["external_id"] = "" if removing else _text(value, "externalId")
        elif key in ("name.givenname", "givenname"):
            changes["first_name"] = "" if removing else _text(value, "name.givenName")
        elif key in ("name.familyname", "familyname"):
            changes["last_name"] = "" if removing else _text(value, "name.familyName")
        elif key == "name":
            if removing:
                changes.update(first_name="", last_name="")
            elif isinstance(value, dict):
                if "givenName" in value:
                    changes["first_name"] = _text(value["givenName"], "name.givenName")
                if "familyName" in value:
                    changes["last_name"] = _text(value["familyName"], "name.familyName")
        elif key == "emails":
            changes["email"] = "" if removing else _primary_email(value)
        elif key.startswith("emails[") and (key.endswith("].value") or key.endswith("]")):
            # Entra ID: emails[type eq "work"].value
            changes["email"] = "" if removing else _text(value, "emails")
        # Anything else (displayName, title, phone numbers, the enterprise extension...) is not
        # kept by the portal: accepted and ignored, as identity providers send them all.


# --- Groups ------------------------------------------------------------------------------------

MEMBER_FILTER = re.compile(r'^members\[\s*value\s+eq\s+"([^"]*)"\s*\]$', re.IGNORECASE)


def _member_ids(value, name: str = "members") -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise scim_errors.BadRequestError(f'"{name}" should be a list of objects with a "value".', scim_type="invalidValue")
    return [str(item.get("value", "")) for item in value]


class ScimGroup(SCIMGroup):
    id_field = "id"
    ATTR_MAP = DirectoryGroupFilter.attr_map

    def __init__(self, obj, request=None):
        super().__init__(obj, request)
        self._incoming: dict = {}

    @property
    def display_name(self):
        return self.obj.display_name

    @property
    def members(self):
        if not self.obj.pk:
            return []
        found = []
        for user in self.obj.members.order_by("pk"):
            adapter = ScimUser(user, self.request)
            found.append({"value": adapter.id, "$ref": adapter.location, "display": adapter.display_name})
        return found

    def to_dict(self):
        found = {
            "schemas": [constants.SchemaURI.GROUP],
            "id": self.id,
            "displayName": self.display_name,
            "members": self.members,
            "meta": self.meta,
        }
        if self.obj.external_id:
            found["externalId"] = self.obj.external_id
        return found

    def validate_dict(self, d):
        if not isinstance(d, dict):
            raise scim_errors.BadRequestError("The body should be a Group object.", scim_type="invalidSyntax")

    def from_dict(self, d):
        self._incoming = {
            "display_name": _text(d.get("displayName"), "displayName"),
            "external_id": _text(d.get("externalId"), "externalId"),
            "members": _member_ids(d.get("members") or []),
        }
        if not self._incoming["display_name"]:
            raise scim_errors.BadRequestError("A group needs a displayName.", scim_type="invalidValue")

    def save(self):
        incoming = self._incoming
        actor = self.request.user
        with _as_scim_errors():
            if self.obj.pk is None:
                self.obj = services.directory_group_create(
                    actor=actor, display_name=incoming["display_name"], external_id=incoming["external_id"],
                    member_ids=incoming["members"],
                )
            else:
                self.obj = services.directory_group_update(
                    actor=actor, group=self.obj, display_name=incoming["display_name"],
                    external_id=incoming["external_id"], replace=incoming["members"],
                )

    def delete(self):
        with _as_scim_errors():
            services.directory_group_delete(actor=self.request.user, group=self.obj)

    def handle_operations(self, operations):
        """Apply a PATCH: renames and member changes, read first and applied in order."""
        changes: dict = {"add": [], "remove": [], "replace": None}
        for op, path, value in _operations(operations):
            if not path:
                if not isinstance(value, dict):
                    raise scim_errors.BadRequestError(
                        "An operation without a path needs an object value.", scim_type="invalidSyntax"
                    )
                for key, item in value.items():
                    self._read_attribute(op, key, item, changes)
            else:
                self._read_attribute(op, path, value, changes)
        with _as_scim_errors():
            if changes["replace"] is not None:
                self.obj = services.directory_group_update(
                    actor=self.request.user, group=self.obj, display_name=changes.get("display_name"),
                    external_id=changes.get("external_id"), replace=changes["replace"],
                )
            if changes["add"] or changes["remove"] or changes["replace"] is None:
                self.obj = services.directory_group_update(
                    actor=self.request.user, group=self.obj, display_name=changes.get("display_name"),
                    external_id=changes.get("external_id"), add=changes["add"], remove=changes["remove"],
                )

    def _read_attribute(self, op: str, path: str, value, changes: dict) -> None:
        path = _strip_schema(path, GROUP_SCHEMA_PREFIX)
        key = path.lower()
        member = MEMBER_FILTER.match(path)
        if member:
            if op != "remove":
                raise scim_errors.BadRequestError("Members are added with the path \"members\".", scim_type="invalidPath")
            changes["remove"].append(member.group(1))
        elif key == "members":
            ids = _member_ids(value)
            if op == "add":
                changes["add"] += ids
            elif op == "remove":
                if value is None:
                    changes["replace"] = []  # no value: every member goes
                else:
                    changes["remove"] += ids
            else:
                changes["replace"] = ids
                changes["add"], changes["remove"] = [], []
        elif key == "displayname":
            if op == "remove":
                raise scim_errors.BadRequestError("displayName cannot be removed.", scim_type="mutability")
            changes["display_name"] = _text(value, "displayName")
        elif key == "externalid":
            changes["external_id"] = "" if op == "remove" else _text(value, "externalId")
        elif key == "id":
            pass  # Okta repeats the id in a replace; it is read-only
        else:
            raise scim_errors.BadRequestError(f'Groups have no attribute "{path}".', scim_type="invalidPath")
