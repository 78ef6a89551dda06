"""The one place where a version's state changes, and where reviewers sign.

Three entry points, one step:
- ``version_transition``: a person's transition by name, from the pages, the API and commands;
- ``agent_transition``: an automated agent's transition (test runner, warm-up, scheduler);
- ``signoff_record``: the electronic signature, which checks the signer's password (and
  one-time code) again, records the signature with the conditions or findings it raises
  (``findings.py``), and approves, rejects or requests changes when the signatures call for it.
Each checks its own rule, then runs ``_transition_locked`` on the row-locked version in one
database transaction: the django-fsm transition, the save, the transition record and its audit
entry. Side effects are queued to run after commit. Annotations and sign-offs write their audit
entries the same way, beside the row they add.
"""

from __future__ import annotations

import logging
from functools import partial

from allauth.core import ratelimit
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django_fsm import can_proceed

from governance.access import permissions
from governance.access import selectors as access_selectors
from governance.access.auth_failures import auth_failure_record
from governance.access.models import role_annotations
from governance.audit.models import ActorKind, EventKind
from governance.audit.services import audit_append
from governance.errors import ActionConflict, ActionError, ActionForbidden, AnnotationRequired
from governance.registry.models import MLModel, ModelVersion, VersionState
from workflows.notifications.services import notifications_for_transition

from . import findings as findings_module
from . import policy, promotion
from .models import DEFAULT_MEANING, Annotation, AuthorRole, Decision, SignOff, TransitionRecord, VersionAuthor
from .rules import RULES, SIGNERS, USER_TRANSITIONS, Rule, holders_allow
from .selectors import AUTHOR_REFUSAL, authored_by_row, authorship_refusal, is_author

logger = logging.getLogger(__name__)

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


def actor_kind_of(actor) -> str:
    if actor is None or getattr(actor, "is_service_account", False):
        return ActorKind.AGENT
    return ActorKind.HUMAN


def _agent_name_for(actor, agent_name: str) -> str:
    """Agents are recorded by name: the job's own, else the service account's."""
    if agent_name:
        return agent_name
    if actor is None:
        raise ValueError("A step without a user must name the job that takes it (agent_name).")
    if getattr(actor, "is_service_account", False):
        return actor.username
    return ""


def _rule(name: str) -> Rule:
    rule = RULES.get(name)
    if rule is None:
        raise ActionError(f"There is no transition called '{name}'.", code="unknown_transition", field="name")
    return rule


def _refuse_deactivated(actor) -> None:
    if actor is not None and not actor.is_active:
        raise ActionForbidden("This account is deactivated.")


def version_transition(
    *, version: ModelVersion, name: str, actor, annotation: str = "", override: bool = False
) -> ModelVersion:
    """A person's transition by name, from a page, the API or a command.

    ``approve``/``reject``/``request_changes`` come from sign-offs (403 ``signoff_required``); the workers'
    transitions are never asked for by name (403 ``agent_only``); an unknown name is a 400.
    Otherwise: ActionForbidden (403, not this person's to take), ActionConflict (409, wrong
    state, or a challenger that has not shadowed the champion long enough) or
    AnnotationRequired (400). ``override``: an admin promotes to champion before the shadow
    minimums are met, with the annotation as the reason (anyone else: 403). Returns the fresh
    version.
    """
    rule = _rule(name)
    if rule.via_signoff:
        raise ActionForbidden(f"'{name}' happens through reviewers' sign-offs.", code="signoff_required")
    if rule.agent_only:
        raise ActionForbidden(f"'{name}' is run by the portal's own workers only.", code="agent_only")
    if actor is None or not actor.is_authenticated:
        raise ActionForbidden(_refusal(name))
    _refuse_deactivated(actor)
    promotion.override_refusal(name=name, actor=actor, override=override)
    return _transition(
        version=version, name=name, rule=rule, actor=actor, agent_name="", annotation=annotation, override=override
    )


def agent_transition(
    *, version: ModelVersion, name: str, agent, agent_name: str, annotation: str, details: dict | None = None
) -> ModelVersion:
    """An automated agent's transition (tests passed, warm-up failed...), as ``agent`` (its
    service account, or None for a scheduled job) under the job's name ``agent_name``."""
    rule = _rule(name)
    if not rule.agent_only:
        raise ActionForbidden(f"'{name}' is a person's decision, never an agent's.", code="not_an_agent_step")
    _refuse_deactivated(agent)
    return _transition(
        version=version, name=name, rule=rule, actor=agent, agent_name=_agent_name_for(agent, agent_name),
        annotation=annotation, details=details,
    )


def _transition(
    *, version, name, rule: Rule, actor, agent_name: str, annotation: str, details=None, override: bool = False
) -> ModelVersion:
    with transaction.atomic():
        if name in CHAMPION_CHANGES:
            MLModel.objects.select_for_update().filter(pk=version.model_id).first()
        # Lock the row: a second caller waits here and then sees the state the first left.
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        if not rule.who(actor, locked):
            # From a state the transition does not leave, whoever may take it elsewhere hears
            # 409 (wrong state) rather than 403.
            wrong_state = not can_proceed(getattr(locked, name))
            if not (wrong_state and holders_allow(rule.all_holders, actor, locked.model)):
                raise ActionForbidden(_refusal(name, locked.state))
        _transition_locked(
            locked, name=name, actor=actor, agent_name=agent_name, annotation=annotation, details=details,
            override=override,
        )
    return locked


def _transition_locked(
    locked: ModelVersion, *, name: str, actor, agent_name: str, annotation: str, details, override: bool = False
) -> None:
    """The step itself, on a version its caller has locked and allowed, in the caller's
    transaction: state check, the FSM transition, save, the record and its audit entry, and
    the effects to run after commit."""
    method = getattr(locked, name)
    if not can_proceed(method):
        raise ActionConflict(f"A version in state '{locked.state}' cannot '{name}'.", code="transition_not_allowed")
    annotation = (annotation or "").strip()
    if RULES[name].annotation_required and not annotation:
        raise AnnotationRequired(f"'{name}' needs an annotation that says why.")
    # The rule's own checks (open conditions, the shadow guardrails), each adding what it found.
    for path in RULES[name].checks:
        found = import_string(path)(locked, actor=actor, override=override, annotation=annotation)
        if found:
            details = {**(details or {}), **found}
    records = []
    # A submit fixes the tier the version is decided under; every later step records that
    # tier's policy (a change of the model's tier applies to versions submitted after it).
    if name == "submit":
        policy_in_force = policy.submission_snapshot(locked.model)
    else:
        policy_in_force = policy.version_policy(locked)
    kind = actor_kind_of(actor)
    if name in CHAMPION_CHANGES:
        # The old champion goes first: the database allows one champion per model.
        retired = _retire_current_champion(locked, actor, kind, agent_name, policy_in_force, name)
        records.extend(retired)
        if retired:
            details = {**(details or {}), "replaced": retired[0].version.number}
    from_state = locked.state
    method()
    locked.state_changed_at = timezone.now()
    try:
        with transaction.atomic():
            locked.save(update_fields=["state", "state_changed_at", "was_champion"])
    except IntegrityError as exc:  # the one-champion constraint, should the model lock be bypassed
        raise ActionConflict("The model already has a champion.", code="champion_exists") from exc
    records.append(
        _transition_record(
            version=locked, name=name, from_state=from_state, actor=actor, kind=kind, agent_name=agent_name,
            annotation=annotation, policy_in_force=policy_in_force, details=details or {},
        )
    )
    # The people concerned are told in this transaction; their emails go after commit.
    notifications_for_transition(records[-1])
    if name == "submit":
        _authors_record(locked, submitter=actor)
    # What follows each transition is declared with its rule (rules.py), run after commit.
    for record in records:
        for path in RULES[record.name].after_commit:
            transaction.on_commit(partial(import_string(path), version_id=record.version_id, record_id=record.pk))


def _transition_record(
    *, version, name, from_state, actor, kind, agent_name, annotation, policy_in_force, details
) -> TransitionRecord:
    """The version's history row and the trail's entry for one state change."""
    record = TransitionRecord.objects.create(
        version=version,
        name=name,
        from_state=from_state,
        to_state=version.state,
        actor=actor,
        actor_kind=kind,
        agent_name=agent_name,
        annotation=annotation,
        policy=policy_in_force,
        details=details,
    )
    audit_append(
        kind=EventKind.TRANSITION,
        action="version.transition",
        summary=annotation or f"{RULES[name].description}: {VersionState(from_state).label} → {VersionState(version.state).label}",
        data={
            "name": name,
            "from_state": from_state,
            "to_state": version.state,
            "policy": policy_in_force,
            "details": details,
            "record_id": record.pk,
        },
        obj=record,
        actor=actor,
        agent_name=agent_name if kind == ActorKind.AGENT else "",
    )
    return record


def _authors_record(version: ModelVersion, *, submitter) -> None:
    """Fix the version's authors as they are at submission (see ``VersionAuthor``)."""
    authors = {(version.submitted_by_id, AuthorRole.UPLOADER)}
    if submitter is not None:
        authors.add((submitter.pk, AuthorRole.SUBMITTER))
    owners = access_selectors.owner_users(model=version.model).values_list("pk", flat=True)
    authors.update((user_id, AuthorRole.OWNER) for user_id in owners)
    VersionAuthor.objects.bulk_create(
        [VersionAuthor(version=version, user_id=user_id, role=role) for user_id, role in authors if user_id],
        ignore_conflicts=True,
    )


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
        _transition_record(
            version=current,
            name="retire",
            from_state=VersionState.CHAMPION,
            actor=actor,
            kind=kind,
            agent_name=agent_name,
            annotation=f"Replaced as champion by version {new.number} ({RULES[cause].description.lower()}).",
            policy_in_force=policy_in_force,
            details={"replaced_by": new.number, "cause": cause},
        )
    ]


def transitions_available(*, version: ModelVersion, user, cache: dict | None = None) -> list[str]:
    """The transitions this user may take on this version now, by name, in the graph's order.

    The state is checked first (no queries), permissions only for what the state allows, each
    rule deciding for the version's state. ``cache`` (e.g. one dict per request) keeps the
    answer of each kind of holder (owner, operator...) per model across versions.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    cache = {} if cache is None else cache
    return [
        name for name in USER_TRANSITIONS
        if can_proceed(getattr(version, name)) and RULES[name].who(user, version, cache)
    ]


# --- Annotations -----------------------------------------------------------------------------


def annotation_add(*, version: ModelVersion, author, text: str) -> Annotation:
    """A person's note on a version they can see. Notes are never edited."""
    if author is None or not author.is_authenticated:
        raise ActionForbidden("Only people and agents who can see this version annotate it.")
    _refuse_deactivated(author)
    if not permissions.can_view_model(author, version.model):
        raise ActionForbidden("Only people and agents who can see this version annotate it.")
    return _annotation_write(version=version, author=author, agent_name=_agent_name_for(author, ""), text=text)


def agent_annotation_add(*, version: ModelVersion, agent, agent_name: str, text: str) -> Annotation:
    """An automated agent's note (test runner, scheduler). Agents act for the portal on every
    model and hold no grant, so no visibility rule applies; only service accounts (or a
    scheduled job, ``agent`` None) call this."""
    if agent is not None and not agent.is_service_account:
        raise ActionForbidden("Only the portal's agents write agent notes.")
    _refuse_deactivated(agent)
    return _annotation_write(version=version, author=agent, agent_name=_agent_name_for(agent, agent_name), text=text)


def _annotation_write(*, version, author, agent_name: str, text: str) -> Annotation:
    text = (text or "").strip()
    if not text:
        raise AnnotationRequired("An annotation needs some text.", field="text")
    with transaction.atomic():
        note = Annotation.objects.create(
            version=version, text=text, author=author, actor_kind=actor_kind_of(author), agent_name=agent_name
        )
        audit_append(
            kind=EventKind.ANNOTATION,
            action="version.annotated",
            summary=text,
            data={"annotation_id": note.pk},
            obj=note,
            actor=author,
            agent_name=note.agent_name,
        )
    return note


# --- Sign-off --------------------------------------------------------------------------------


def signoff_refusal(*, version: ModelVersion, user, authored: bool | None = None) -> str | None:
    """Why this user may never sign this version (four eyes), or None when they may.

    The state of the version is not looked at here (that is a 409, checked under the lock).
    ``authored``: whether the user is one of the version's authors, when read already
    (``approvals_that_count`` reads it for every signer in one query).
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return "Only an active, signed-in person signs off."
    if user.is_service_account:
        return "Service accounts never sign off: a signature is a person's."
    if authored is None:
        refusal = authorship_refusal(version=version, user=user)
    else:
        refusal = AUTHOR_REFUSAL if authored else None
    if refusal:
        return refusal
    if not holders_allow(SIGNERS, user, version.model):
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
    conditions: list | None = None,
    findings: list | None = None,
    evidence_reviewed: bool = False,
) -> SignOff:
    """Record ``signer``'s signature on ``version`` with the conditions or findings it raises,
    and approve, reject or request changes when due.

    ``conditions`` ({description, severity, due}) go with an approval, ``findings``
    ({description, severity}) with a rejection or a request for changes, which needs one at
    least (``findings.signoff_items_clean``); they are recorded in the signature's transaction.
    ``evidence_reviewed``: the signer confirmed having reviewed the evidence summary, which
    becomes part of the signature's recorded meaning.

    Refusals: 400 (bad decision, no annotation, bad conditions or findings), 403 (four eyes, not
    a reviewer, wrong password or code; nothing is recorded), 429 (too many wrong attempts), 409
    (not in review, or signed already, or ``artifact_sha256`` - what the signer reviewed - is not
    the version's). A rejection or a request for changes moves the version at once; an approval
    that brings the count to the policy's number approves it in the same transaction; the row
    lock makes that happen exactly once.
    """
    if decision not in Decision.values:
        raise ActionError(
            "The decision is 'approve', 'reject' or 'request_changes'.", code="invalid_choice", field="decision"
        )
    annotation = (annotation or "").strip()
    if not annotation:
        raise AnnotationRequired("A sign-off needs an annotation that says what you reviewed and why.")
    meaning = _signed_meaning((meaning or "").strip() or DEFAULT_MEANING[decision], evidence_reviewed)
    items = findings_module.signoff_items_clean(
        version=version, decision=decision, conditions=conditions, findings=findings
    )
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
        # The quorum of the tier the version was submitted under, with that tier's number in force.
        policy_in_force = policy.version_policy(locked)
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
        _signoff_event(signoff)
        findings_module.findings_raise(version=locked, signoff=signoff, items=items)

        if decision in (Decision.REJECT, Decision.REQUEST_CHANGES):
            # The transition of the same name: in_review -> rejected or changes_requested.
            _transition_locked(
                locked, name=decision, actor=signer, agent_name="", annotation=annotation,
                details={"signoff": signoff.pk},
            )
        else:
            approvals = [
                (approval.pk, approval.signer_username)
                for approval in approvals_that_count(locked)
            ]
            needed = policy_in_force["required_approvals"]
            if len(approvals) >= needed:
                names = ", ".join(username for _, username in approvals)
                _transition_locked(
                    locked,
                    name="approve",
                    actor=signer,
                    agent_name="",
                    annotation=f"{len(approvals)} of {needed} required approvals: {names}.",
                    details={"signoffs": [pk for pk, _ in approvals]},
                )
    return signoff


# Added to the meaning of a signature whose signer confirmed having reviewed the evidence summary.
EVIDENCE_REVIEWED = "I have reviewed the evidence summary"
MEANING_MAX_LENGTH = SignOff._meta.get_field("meaning").max_length


def _signed_meaning(meaning: str, evidence_reviewed: bool) -> str:
    """The meaning recorded with a signature: the signer's words, and the confirmation of the
    evidence summary when they gave it (400 when the two do not fit the record)."""
    if evidence_reviewed:
        meaning = f"{meaning.rstrip('. ')}. {EVIDENCE_REVIEWED}."
    if len(meaning) > MEANING_MAX_LENGTH:
        raise ActionError(
            f"The meaning is too long to record: at most {MEANING_MAX_LENGTH} characters with the confirmation.",
            field="meaning",
        )
    return meaning


def approvals_that_count(version: ModelVersion) -> list[SignOff]:
    """The approvals that count towards the quorum, oldest first: those whose signer may still
    sign the version (active, holding the reviewer grant, not an author). The version page shows
    this count; ``signoff_record`` approves on it."""
    approvals = (
        SignOff.objects.filter(version=version, decision=Decision.APPROVE)
        .select_related("signer")
        .annotate(**role_annotations("signer_id"))
        .annotate(**permissions.perms_annotation_of("signer_id", "version__model_id"))
        .annotate(**authored_by_row(version, "signer_id"))
        .order_by("at", "id")
    )
    counted = []
    for approval in approvals:
        # The signer's roles, grants on the model and authorship, read with the approval, are
        # what ``signoff_refusal`` decides on: the same rule, in one query for every signer.
        signer = approval.signer
        signer.roles_read_with(approval)
        permissions.perms_seed(signer, version.model, approval)
        authored = is_author(version, signer.pk, approval)
        if signoff_refusal(version=version, user=signer, authored=authored) is None:
            counted.append(approval)
    return counted


def _signoff_event(signoff: SignOff) -> None:
    """The signature in the trail: every field of the sign-off (it holds no secret)."""
    data = {field.attname: field.value_from_object(signoff) for field in signoff._meta.concrete_fields}
    audit_append(
        kind=EventKind.SIGNOFF,
        action=f"version.signoff.{signoff.decision}",
        summary=signoff.annotation or signoff.meaning,
        data=data,
        obj=signoff,
        actor=signoff.signer,
    )


def _check_signing_credentials(*, signer, password: str, otp: str, request: HttpRequest | None) -> bool:
    """Check the password, and the one-time code where the signer has MFA, every time.

    With ``GOVERNANCE_SIGNING_REQUIRES_MFA`` (on in production) every signature needs the code:
    a signer without an authenticator is refused (403 ``mfa_required``) until they set one up.

    allauth's re-authentication window is not a signature (it spans many actions): this runs for each
    signature. Failures sign nothing and count towards a rate limit; each (and each attempt
    while locked out) is an access event of the trail, rate limited itself. Returns whether a
    one-time code was checked.
    """
    request = request or _internal_request(signer)
    key = f"signoff:{signer.pk}"

    def record(action: str, code: str, summary: str) -> None:
        auth_failure_record(
            request=request, action=action, reason=code, username=signer.username, user=signer, actor=signer,
            summary=summary,
        )

    if not ratelimit.consume(request, action=SIGNING_RATE_LIMIT_ACTION, key=key, dry_run=True):
        record(
            "signoff.locked", "too_many_attempts",
            f"Sign-off by {signer.username} refused: locked out after wrong passwords or codes.",
        )
        raise SigningLocked("Too many wrong passwords or codes. Wait a few minutes before signing again.")

    def refuse(message: str, code: str):
        ratelimit.consume(request, action=SIGNING_RATE_LIMIT_ACTION, key=key)
        logger.warning("Refused sign-off by %s: %s", signer.username, code)
        record(
            "signoff.credentials_refused", code,
            f"Sign-off credentials of {signer.username} refused: {code.replace('_', ' ')}.",
        )
        raise ActionForbidden(message, code=code)

    if not signer.has_usable_password():
        # People who sign in through single sign-on have no portal password to sign with.
        raise ActionForbidden(
            "Your account has no portal password, and a signature needs one: ask an admin to set one.",
            code="no_password",
        )
    authenticators = list(Authenticator.objects.filter(user=signer).exclude(type=Authenticator.Type.WEBAUTHN))
    if not authenticators and settings.GOVERNANCE_SIGNING_REQUIRES_MFA:
        # Here a signature always carries a one-time code: without an authenticator there is none.
        raise ActionForbidden(
            "A signature here needs a one-time code: set up two-factor authentication first "
            f"(Two-factor, {reverse('mfa_index')}), then sign. Nothing was signed.",
            code="mfa_required",
        )
    if not password or not signer.check_password(password):
        refuse("The password is not right; nothing was signed.", "wrong_password")
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


def _refusal(name: str, state: str = "") -> str:
    if name == "retire" and state in RULES["retire"].holders_from:
        return "Only operators with the operator grant, or the model's owners, retire an approved version."
    return {
        "submit": "Only the model's owners and contributors submit versions.",
        "rerun_tests": "Only validators with the reviewer grant on this model rerun tests.",
        "withdraw": "Only the model's owners withdraw versions.",
        "promote_to_challenger": "Only operators with the operator grant on this model promote versions.",
        "promote_to_champion": "Only operators with the operator grant on this model promote versions.",
        "retire": "Only operators with the operator grant on this model retire a serving version (challenger or champion).",
        "rollback": "Only operators with the operator grant on this model roll back.",
    }.get(name, f"Only an automated agent runs '{name}'.")
