"""The one place where a version's state changes, and where reviewers sign.

``version_transition`` is called by the pages, the API, Celery tasks and management commands
alike. In one database transaction it locks the version, checks who is asking, runs the
django-fsm transition, saves, and writes the transition record; side effects are queued to run
after commit. ``signoff_record`` is the electronic signature: it checks the signer's password
(and one-time code) again, records the signature, and runs ``approve`` or ``reject`` when the
signatures call for it, in the same transaction.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from allauth.core import ratelimit
from allauth.mfa.models import Authenticator
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_fsm import can_proceed

from governance.access import permissions
from governance.errors import ActionConflict, ActionError, ActionForbidden, AnnotationRequired
from governance.registry.models import MLModel, ModelVersion, VersionState

from . import policy
from .models import DEFAULT_MEANING, ActorKind, Annotation, Decision, SignOff, TransitionRecord
from .rules import RULES, USER_TRANSITIONS

logger = logging.getLogger(__name__)

# Callables run after commit of a transition, by transition name: f(version_id=..., record_id=...).
# Other apps register here (e.g. the test suites app starts a run after "submit").
AFTER_COMMIT: dict[str, list[Callable[..., Any]]] = {}

# Transitions that change which version is the model's champion. They lock the model row first,
# so two of them on one model run one after the other (and always in the order model, version).
CHAMPION_CHANGES = ("promote_to_champion", "rollback")

# Failed signing attempts count in allauth's "login_failed" limit (ACCOUNT_RATE_LIMITS), under a
# key of their own per signer: guessing a password on the signing form is guessing a password.
SIGNING_RATE_LIMIT_ACTION = "login_failed"


class SigningLocked(ActionError):
    """Too many wrong passwords or codes on the signing form: refused for a while (429)."""

    status = 429
    code = "too_many_attempts"


def on_transition_committed(*names: str):
    """Register a function to run after a transition of one of these names commits."""

    def register(func):
        for name in names:
            AFTER_COMMIT.setdefault(name, []).append(func)
        return func

    return register


def actor_kind_of(actor) -> str:
    if actor is None or getattr(actor, "is_service_account", False):
        return ActorKind.AGENT
    return ActorKind.HUMAN


def current_policy(version: ModelVersion) -> dict:
    """The approval numbers in force, recorded with each decision."""
    return policy.policy_snapshot(version.model.risk_tier)


def _agent_name_for(actor, agent_name: str) -> str:
    """Agents are recorded by name: the job's own, else the service account's."""
    if agent_name:
        return agent_name
    if actor is None:
        raise ValueError("A transition without a user must name the job that runs it (agent_name).")
    if getattr(actor, "is_service_account", False):
        return actor.username
    return ""


def version_transition(
    *,
    version: ModelVersion,
    name: str,
    actor,
    annotation: str = "",
    agent_name: str = "",
    details: dict | None = None,
    _internal: bool = False,
) -> ModelVersion:
    """Run transition ``name`` on ``version`` for ``actor`` (a user, or None for a scheduled job).

    Raises ActionError (400, unknown name), ActionForbidden (403), ActionConflict (409, wrong
    state) or AnnotationRequired (400). Returns the fresh version. ``_internal`` is for the
    sign-off service, which checks its own rules.
    """
    rule = RULES.get(name)
    if rule is None:
        raise ActionError(f"There is no transition called '{name}'.", code="unknown_transition", field="name")
    if rule.via_signoff and not _internal:
        raise ActionForbidden(
            f"'{name}' happens through reviewers' sign-offs, not by name.", code="signoff_required"
        )
    if actor is not None and not actor.is_active:
        raise ActionForbidden("This account is deactivated.")
    agent_name = _agent_name_for(actor, agent_name)
    annotation = (annotation or "").strip()

    with transaction.atomic():
        if name in CHAMPION_CHANGES:
            MLModel.objects.select_for_update().filter(pk=version.model_id).first()
        # Lock the row: a second caller waits here and then sees the state the first left.
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        if not _internal and not rule.who(actor, locked.model):
            raise ActionForbidden(_refusal(name))
        method = getattr(locked, name)
        if not can_proceed(method):
            raise ActionConflict(
                f"A version in state '{locked.state}' cannot '{name}'.", code="transition_not_allowed"
            )
        if rule.annotation_required and not annotation:
            raise AnnotationRequired(f"'{name}' needs an annotation that says why.")
        records = []
        policy_in_force = current_policy(locked)
        kind = actor_kind_of(actor)
        if name in CHAMPION_CHANGES:
            # The old champion goes first: the database allows one champion per model.
            records.extend(_retire_current_champion(locked, actor, kind, agent_name, policy_in_force, name))
        from_state = locked.state
        method()
        locked.state_changed_at = timezone.now()
        try:
            with transaction.atomic():
                locked.save(update_fields=["state", "state_changed_at", "was_champion"])
        except IntegrityError as exc:  # the one-champion constraint, should the model lock be bypassed
            raise ActionConflict("The model already has a champion.", code="champion_exists") from exc
        records.append(
            TransitionRecord.objects.create(
                version=locked,
                name=name,
                from_state=from_state,
                to_state=locked.state,
                actor=actor,
                actor_kind=kind,
                agent_name=agent_name,
                annotation=annotation,
                policy=policy_in_force,
                details=details or {},
            )
        )
        for record in records:
            for func in AFTER_COMMIT.get(record.name, []):
                transaction.on_commit(
                    lambda func=func, record=record: func(version_id=record.version_id, record_id=record.pk)
                )
    return locked


def version_transition_by_name(*, version: ModelVersion, name: str, actor, annotation: str = "") -> ModelVersion:
    """A transition asked for by name from a page or the API: only people's transitions.

    ``approve``/``reject`` come from sign-offs (403 ``signoff_required``); the workers'
    transitions are never asked for by name (403 ``agent_only``); an unknown name is a 400.
    """
    rule = RULES.get(name)
    if rule is None:
        raise ActionError(f"There is no transition called '{name}'.", code="unknown_transition", field="name")
    if rule.via_signoff:
        raise ActionForbidden(f"'{name}' happens through reviewers' sign-offs.", code="signoff_required")
    if rule.agent_only:
        raise ActionForbidden(f"'{name}' is run by the portal's own workers only.", code="agent_only")
    return version_transition(version=version, name=name, actor=actor, annotation=annotation)


def _retire_current_champion(new, actor, kind, agent_name, policy_in_force, cause) -> list[TransitionRecord]:
    """Retire the model's champion in the same transaction, recording which version replaced it."""
    current = (
        ModelVersion.objects.select_for_update()
        .filter(model_id=new.model_id, state=VersionState.CHAMPION)
        .exclude(pk=new.pk)
        .first()
    )
    if current is None:
        return []
    current.retire()
    current.state_changed_at = timezone.now()
    current.save(update_fields=["state", "state_changed_at"])
    return [
        TransitionRecord.objects.create(
            version=current,
            name="retire",
            from_state=VersionState.CHAMPION,
            to_state=VersionState.RETIRED,
            actor=actor,
            actor_kind=kind,
            agent_name=agent_name,
            annotation=f"Replaced as champion by version {new.number} ({cause}).",
            policy=policy_in_force,
            details={"replaced_by": new.number, "cause": cause},
        )
    ]


def transitions_available(*, version: ModelVersion, user, cache: dict | None = None) -> list[str]:
    """The transitions this user may take on this version now, by name, in the graph's order.

    The state is checked first (no queries), permissions only for what the state allows.
    ``cache`` (e.g. one dict per request) keeps permission answers per model across versions.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    cache = {} if cache is None else cache
    names = []
    for name in USER_TRANSITIONS:
        if not can_proceed(getattr(version, name)):
            continue
        key = (version.model_id, name)
        if key not in cache:
            cache[key] = RULES[name].who(user, version.model)
        if cache[key]:
            names.append(name)
    return names


def annotation_add(
    *, version: ModelVersion, author, text: str, agent_name: str = "", _internal: bool = False
) -> Annotation:
    """A note on a version by anyone who can see it, person or agent. Notes are never edited.

    ``_internal`` is for the portal's own workers (test runner, scheduler), which act for the
    system on every model and hold no grant; API and page callers never pass it.
    """
    text = (text or "").strip()
    if not text:
        raise AnnotationRequired("An annotation needs some text.", field="text")
    if author is not None:
        if not author.is_active:
            raise ActionForbidden("This account is deactivated.")
        if not _internal and not permissions.can_view_model(author, version.model):
            raise ActionForbidden("Only people and agents who can see this version annotate it.")
    return Annotation.objects.create(
        version=version,
        text=text,
        author=author,
        actor_kind=actor_kind_of(author),
        agent_name=_agent_name_for(author, agent_name),
    )


# --- Sign-off --------------------------------------------------------------------------------


def submitters_of(version: ModelVersion) -> set[int]:
    """Who put the version forward: its uploader and whoever ran ``submit`` on it."""
    ids = set(
        TransitionRecord.objects.filter(version=version, name="submit", actor__isnull=False).values_list(
            "actor_id", flat=True
        )
    )
    ids.add(version.submitted_by_id)
    return ids


def signoff_refusal(*, version: ModelVersion, user) -> str | None:
    """Why this user may never sign this version (four eyes), or None when they may.

    The state of the version is not looked at here (that is a 409, checked under the lock).
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return "Only an active, signed-in person signs off."
    if user.is_service_account:
        return "Service accounts never sign off: a signature is a person's."
    if user.pk in submitters_of(version):
        return "You submitted this version; someone else must review it."
    if permissions.is_owner(user, version.model):
        return "You own this model; a reviewer who does not own it must sign."
    if not permissions.is_reviewer(user, version.model):
        return "Only validators with the reviewer grant on this model sign off its versions."
    return None


def signer_has_mfa(user) -> bool:
    return Authenticator.objects.filter(user=user).exclude(type=Authenticator.Type.WEBAUTHN).exists()


def signoff_record(
    *,
    version: ModelVersion,
    signer,
    decision: str,
    meaning: str = "",
    annotation: str,
    password: str,
    otp: str = "",
    request: HttpRequest | None = None,
    artifact_sha256: str = "",
) -> SignOff:
    """Record ``signer``'s signature on ``version``, and approve or reject it when due.

    Refusals: 400 (bad decision, no annotation), 403 (four eyes, not a reviewer, wrong password
    or code; nothing is recorded), 429 (too many wrong attempts), 409 (not in review, or signed
    already, or ``artifact_sha256`` - what the signer reviewed - is not the version's). With an approval that brings the count to the policy's number the version is
    approved in the same transaction; the row lock makes that happen exactly once.
    """
    if decision not in Decision.values:
        raise ActionError("The decision is 'approve' or 'reject'.", code="invalid_choice", field="decision")
    annotation = (annotation or "").strip()
    if not annotation:
        raise AnnotationRequired("A sign-off needs an annotation that says what you reviewed and why.")
    meaning = (meaning or "").strip() or DEFAULT_MEANING[decision]
    refusal = signoff_refusal(version=version, user=signer)
    if refusal:
        raise ActionForbidden(refusal, code="signoff_not_allowed")
    with_mfa = _check_signing_credentials(signer=signer, password=password, otp=otp, request=request)

    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        if locked.state != VersionState.IN_REVIEW:
            raise ActionConflict(
                f"Only a version in review is signed off; this one is '{locked.state}'.",
                code="not_in_review",
            )
        if artifact_sha256 and artifact_sha256.strip().lower() != locked.artifact_sha256:
            raise ActionConflict(
                "The artifact you reviewed is not this version's artifact; nothing was signed.",
                code="artifact_mismatch",
            )
        if SignOff.objects.filter(version=locked, signer=signer).exists():
            raise ActionConflict("You have signed this version already.", code="already_signed")
        policy_in_force = current_policy(locked)
        try:
            with transaction.atomic():
                signoff = SignOff.objects.create(
                    version=locked,
                    signer=signer,
                    signer_username=signer.username,
                    signer_full_name=signer.get_full_name() or signer.username,
                    decision=decision,
                    meaning=meaning,
                    annotation=annotation,
                    artifact_sha256=locked.artifact_sha256,
                    with_mfa=with_mfa,
                    policy=policy_in_force,
                )
        except IntegrityError as exc:
            raise ActionConflict("You have signed this version already.", code="already_signed") from exc

        if decision == Decision.REJECT:
            version_transition(
                version=locked,
                name="reject",
                actor=signer,
                annotation=annotation,
                details={"signoff": signoff.pk},
                _internal=True,
            )
        else:
            approvals = list(
                SignOff.objects.filter(version=locked, decision=Decision.APPROVE)
                .order_by("at", "id")
                .values_list("pk", "signer_username")
            )
            needed = policy_in_force["required_approvals"]
            if len(approvals) >= needed:
                names = ", ".join(username for _, username in approvals)
                version_transition(
                    version=locked,
                    name="approve",
                    actor=signer,
                    annotation=f"{len(approvals)} of {needed} required approvals: {names}.",
                    details={"signoffs": [pk for pk, _ in approvals]},
                    _internal=True,
                )
    return signoff


def _check_signing_credentials(*, signer, password: str, otp: str, request: HttpRequest | None) -> bool:
    """Check the password, and the one-time code where the signer has MFA, every time.

    allauth's re-authentication window is not a signature (it spans many actions): this runs for each
    signature. Failures record nothing and count towards a rate limit. Returns whether a
    one-time code was checked.
    """
    request = request or _internal_request(signer)
    key = f"signoff:{signer.pk}"
    if not ratelimit.consume(request, action=SIGNING_RATE_LIMIT_ACTION, key=key, dry_run=True):
        raise SigningLocked("Too many wrong passwords or codes. Wait a few minutes before signing again.")

    def refuse(message: str, code: str):
        ratelimit.consume(request, action=SIGNING_RATE_LIMIT_ACTION, key=key)
        logger.warning("Refused sign-off by %s: %s", signer.username, code)
        raise ActionForbidden(message, code=code)

    if not signer.has_usable_password():
        # People who sign in through single sign-on have no portal password to sign with.
        raise ActionForbidden(
            "Your account has no portal password, and a signature needs one: ask an admin to set one.",
            code="no_password",
        )
    if not password or not signer.check_password(password):
        refuse("The password is not right; nothing was signed.", "wrong_password")
    authenticators = list(Authenticator.objects.filter(user=signer).exclude(type=Authenticator.Type.WEBAUTHN))
    if not authenticators:
        return False
    otp = (otp or "").strip()
    if not otp:
        refuse("Your account has two-factor authentication: enter the one-time code as well.", "otp_required")
    # As allauth's own forms do: a TOTP code or a recovery code; a code is accepted once only.
    for authenticator in authenticators:
        if authenticator.wrap().validate_code(otp):
            authenticator.record_usage()
            return True
    refuse("The one-time code is not right (or was used already); nothing was signed.", "wrong_otp")
    return False  # not reached: refuse() raises


def _internal_request(signer) -> HttpRequest:
    """A stand-in request for rate limiting when the service is called outside a request."""
    request = HttpRequest()
    request.method = "POST"
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    request.user = signer
    return request


def _refusal(name: str) -> str:
    return {
        "submit": "Only the model's owners and contributors submit versions.",
        "rerun_tests": "Only validators with the reviewer grant on this model rerun tests.",
        "withdraw": "Only the model's owners withdraw versions.",
        "promote_to_challenger": "Only operators with the operator grant on this model promote versions.",
        "promote_to_champion": "Only operators with the operator grant on this model promote versions.",
        "retire": "Only operators with the operator grant, or the model's owners, retire versions.",
        "rollback": "Only operators with the operator grant on this model roll back.",
    }.get(name, f"Only an automated agent runs '{name}'.")
