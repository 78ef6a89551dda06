"""Bearer-token authentication for the API (tokens stored hashed)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken, hash_token, role_annotations

# last_used_at is written at most this often per token, so reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            _token_refused(request, "malformed_header")
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeError:
            _token_refused(request, "malformed_token")
            raise exceptions.AuthenticationFailed("Malformed token.")
        # One query by the indexed hash, with the user and their roles; whether the token still
        # works (not revoked, not expired, its user active) is decided on the row read, as
        # ``ApiTokenQuerySet.usable``.
        token = (
            ApiToken.objects.select_related("user")
            .annotate(**role_annotations("user_id"))
            .filter(key_hash=hash_token(raw))
            .first()
        )
        if token is None or not token.is_usable:
            _token_refused(request, raw=raw)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        request.api_token = token
        # This user serves this request only: its role checks use the roles read with it.
        token.user.roles_read_with(token)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


def _token_refused(request, reason: str = "", raw: str = "") -> None:
    """Record a refused token in the audit trail (rate limited): which token and whose, when it
    is one of ours that no longer works, and why. Nothing of an unknown secret is recorded."""
    from .auth_failures import auth_failure_record

    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first() if raw else None
    data: dict = {}
    if not reason:
        if token is None:
            reason = "unknown_token"
        elif token.revoked_at is not None:
            reason = "revoked_token"
        elif token.expires_at is not None and token.expires_at <= timezone.now():
            reason = "expired_token"
        else:
            reason = "inactive_user"
    if token is not None:
        data = {"token_id": token.pk, "prefix": token.key_prefix, "label": token.label}
    owner = token.user if token is not None else None
    auth_failure_record(
        request=getattr(request, "_request", request),
        action="api.token_refused",
        reason=reason,
        username=owner.username if owner is not None else "",
        user=owner,
        data=data,
        summary=(
            f"API token “{token.label or token.key_prefix}” of {owner.username} refused: {reason.replace('_', ' ')}."
            if token is not None
            else f"API call with a bad token refused: {reason.replace('_', ' ')}."
        ),
    )
