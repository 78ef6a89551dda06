"""Findings and conditions: what reviewers found on a version, and what must happen before it serves.

A reviewer raises them with a signature (``services.signoff_record``): conditions with an
approval, findings with a request for changes or a rejection. Each is a ``Finding`` row with
its history of ``FindingEvent`` rows (raised, overdue, closed) and an audit entry per event.
A validator with the reviewer grant on the model who is not one of the version's authors closes
one, with an annotation (``finding_close``).

A condition still open blocks ``promote_to_champion`` (``champion_conditions_check``, called
under the version's lock). A condition open past its due date is overdue: the version is
flagged on its model page and in the review queue, computed whenever they are read, and the
daily ``findings-monitor`` agent records the overdue event in the finding's history and the
trail once per condition (``conditions_flag_overdue``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from governance.access import permissions
from governance.access.roles import GlobalRole
from governance.audit.models import ActorKind, EventKind
from governance.audit.services import audit_append
from governance.errors import ActionConflict, ActionError, ActionForbidden, AnnotationRequired
from governance.registry.models import MLModel, ModelVersion, VersionState

from .history import HistoryEntry
from .models import Decision, Finding, FindingEvent, FindingKind, FindingStatus, Severity
from .selectors import authored_by, authorship_refusal

# The scheduled job that records conditions past their due date.
FINDINGS_AGENT = "findings-monitor"
# More than this many conditions or findings on one signature is a mistake, not a review.
MAX_ITEMS = 20
# Where a condition still matters: before the version serves or while it does. On a rejected,
# withdrawn or retired version an open condition is moot and never flagged overdue.
CONDITION_STATES = (VersionState.IN_REVIEW, VersionState.APPROVED, VersionState.CHALLENGER, VersionState.CHAMPION)


class EventAction:
    RAISED = "raised"
    OVERDUE = "overdue"
    CLOSED = "closed"


EVENT_TITLES = {EventAction.RAISED: "raised", EventAction.OVERDUE: "overdue", EventAction.CLOSED: "closed"}


def today() -> date:
    """Today in UTC, the portal's time zone: a condition due today is overdue tomorrow."""
    return timezone.now().date()


# --- What a signature raises ------------------------------------------------------------------


@dataclass(frozen=True)
class RaisedItem:
    """One condition or finding of a signature, checked and ready to record."""

    kind: str
    description: str
    severity: str
    due: date | None
    owner: object | None  # a User, or None for the version's submitter


def signoff_items_clean(
    *, version: ModelVersion, decision: str, conditions: list | None, findings: list | None
) -> list[RaisedItem]:
    """The conditions and findings sent with a signature, checked against its decision.

    Conditions go with ``approve`` only, each with a description, a severity and a due date
    (``YYYY-MM-DD``, today or later); findings go with ``request_changes`` (at least one) or
    ``reject``, each with a description and a severity (a due date is optional). Either may
    name its ``owner`` (a username of someone who can see the model); by default it is the
    version's submitter. Anything else is an ActionError (400) naming the field; nothing is
    recorded.
    """
    conditions = list(conditions or [])
    findings = list(findings or [])
    if conditions and decision != Decision.APPROVE:
        raise ActionError(
            "Conditions go with an approval only; with a request for changes or a rejection, list findings.",
            field="conditions",
        )
    if findings and decision == Decision.APPROVE:
        raise ActionError(
            "An approval carries conditions, not findings; to ask for changes, request changes.",
            field="findings",
        )
    if decision == Decision.REQUEST_CHANGES and not findings:
        raise ActionError(
            "A request for changes lists at least one finding: say what has to change.",
            field="findings",
            code="findings_required",
        )
    for field, items in (("conditions", conditions), ("findings", findings)):
        if len(items) > MAX_ITEMS:
            raise ActionError(f"At most {MAX_ITEMS} {field} per signature.", field=field)
    return [
        _item_clean(item, index=index, kind=FindingKind.CONDITION, field="conditions", version=version)
        for index, item in enumerate(conditions, start=1)
    ] + [
        _item_clean(item, index=index, kind=FindingKind.FINDING, field="findings", version=version)
        for index, item in enumerate(findings, start=1)
    ]


def _item_clean(item, *, index: int, kind: str, field: str, version: ModelVersion) -> RaisedItem:
    noun = "condition" if kind == FindingKind.CONDITION else "finding"

    def refuse(message: str) -> ActionError:
        return ActionError(f"{noun.capitalize()} {index}: {message}", field=field)

    if not isinstance(item, dict):
        raise refuse("give a description and a severity.")
    description = str(item.get("description") or "").strip()
    if not description:
        raise refuse("the description is missing.")
    severity = str(item.get("severity") or "").strip()
    if severity not in Severity.values:
        raise refuse(f"the severity is one of {', '.join(Severity.values)}.")
    due = _due_clean(item.get("due"), refuse)
    if kind == FindingKind.CONDITION and due is None:
        raise refuse("a condition needs a due date (YYYY-MM-DD).")
    return RaisedItem(
        kind=kind, description=description, severity=severity, due=due,
        owner=_owner_clean(item.get("owner"), refuse, version),
    )


def _due_clean(value, refuse) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        try:
            value = datetime.strptime(str(value).strip(), "%Y-%m-%d").date()
        except ValueError:
            raise refuse(f"the due date '{value}' is not a date of the form YYYY-MM-DD.") from None
    if value < today():
        raise refuse(f"the due date {value:%Y-%m-%d} is in the past.")
    return value


def _owner_clean(value, refuse, version: ModelVersion):
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        return value  # a User, from a caller inside the portal
    owner = get_user_model().objects.filter(username=value.strip(), is_active=True).first()
    if owner is None or not permissions.can_view_model(owner, version.model):
        raise refuse(f"there is nobody called '{value}' who can see this model to own it.")
    return owner


def findings_raise(*, version: ModelVersion, signoff, items: list[RaisedItem]) -> list[Finding]:
    """Record a signature's conditions and findings, in the caller's transaction (the one that
    records the signature): each row, its ``raised`` event and its audit entry."""
    raised = []
    for item in items:
        finding = Finding.objects.create(
            version=version,
            signoff=signoff,
            kind=item.kind,
            description=item.description,
            severity=item.severity,
            due=item.due,
            owner=item.owner or version.submitted_by,
            raised_by=signoff.signer,
        )
        _event(finding, action=EventAction.RAISED, actor=signoff.signer, annotation=signoff.annotation)
        raised.append(finding)
    return raised


# --- Closing ----------------------------------------------------------------------------------


def finding_close_refusal(*, finding: Finding, user) -> str | None:
    """Why ``user`` may not close ``finding``, or None when they may.

    Closing is an independent validator's judgement: a person (never an agent) with the
    validator role and the reviewer grant on the model, who is neither one of the version's
    authors (``authorship_refusal``) nor the finding's owner.
    """
    refusal = closer_refusal(version=finding.version, user=user)
    if refusal is None and finding.owner_id == user.pk:
        return "This finding is yours to resolve; another validator closes it."
    return refusal


def closer_refusal(*, version: ModelVersion, user) -> str | None:
    """Why ``user`` may close none of ``version``'s findings, or None (the finding's owner is
    refused on top of this: ``finding_close_refusal``)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "Only an active, signed-in person closes findings."
    if getattr(user, "is_service_account", False):
        return "Service accounts never close findings: closing one is a validator's judgement."
    if authorship_refusal(version=version, user=user):
        return "You submitted this version or own this model; a validator independent of it closes its findings."
    if not permissions.is_reviewer(user, version.model):
        return "Only validators with the reviewer grant on this model close its findings and conditions."
    return None


def finding_close(*, finding: Finding, actor, annotation: str) -> Finding:
    """Close a finding or condition with an annotation saying how it was resolved.

    403 (``close_not_allowed``) for anyone but an independent validator (``finding_close_refusal``),
    400 without an annotation, 409 (``already_closed``) when it is closed already: the row is
    locked, so of two validators closing at once, one closes and the other hears 409.
    Returns the fresh finding.
    """
    refusal = finding_close_refusal(finding=finding, user=actor)
    if refusal:
        raise ActionForbidden(refusal, code="close_not_allowed")
    annotation = (annotation or "").strip()
    if not annotation:
        raise AnnotationRequired("Closing needs an annotation that says how it was resolved.")
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status == FindingStatus.CLOSED:
            closer = locked.closed_by.username if locked.closed_by_id else "someone"
            raise ActionConflict(f"This {locked.get_kind_display().lower()} was closed already by {closer}.", code="already_closed")
        locked.status = FindingStatus.CLOSED
        locked.closed_by = actor
        locked.closed_at = timezone.now()
        locked.close_annotation = annotation
        locked.save(update_fields=["status", "closed_by", "closed_at", "close_annotation"])
        _event(locked, action=EventAction.CLOSED, actor=actor, annotation=annotation)
    return locked


def _event(finding: Finding, *, action: str, actor, annotation: str = "", agent_name: str = "") -> FindingEvent:
    """A step of a finding's history and its audit entry, in the caller's transaction."""
    kind = ActorKind.AGENT if actor is None or getattr(actor, "is_service_account", False) else ActorKind.HUMAN
    event = FindingEvent.objects.create(
        finding=finding, action=action, actor=actor, actor_kind=kind, agent_name=agent_name, annotation=annotation
    )
    noun = finding.get_kind_display()
    summaries = {
        EventAction.RAISED: f"{noun} raised ({finding.severity}): {finding.description}",
        EventAction.CLOSED: f"{noun} closed: {finding.description}. {annotation}",
        EventAction.OVERDUE: f"{noun} open past its due date {finding.due}: {finding.description}",
    }
    audit_append(
        kind=EventKind.CHANGE,
        action=f"finding.{action}",
        summary=summaries.get(action, f"{noun} {action}: {finding.description}"),
        data={
            "finding_id": finding.pk,
            "event_id": event.pk,
            "kind": finding.kind,
            "description": finding.description,
            "severity": finding.severity,
            "due": finding.due.isoformat() if finding.due else None,
            "owner": finding.owner.username if finding.owner_id else None,
            "status": finding.status,
            "signoff_id": finding.signoff_id,
            "annotation": annotation,
        },
        obj=finding,
        actor=actor,
        agent_name=agent_name or None,
    )
    return event


# --- Promotion --------------------------------------------------------------------------------


def champion_conditions_check(version: ModelVersion, **_context) -> dict:
    """409 (``open_conditions``) naming the version's open conditions, if it has any: a version
    becomes champion only once a validator has closed them. A check of ``promote_to_champion``'s
    rule, run under the version's lock; it records nothing."""
    open_ = list(open_conditions(version))
    if not open_:
        return {}
    named = "; ".join(f"“{c.description}” (due {c.due:%Y-%m-%d})" if c.due else f"“{c.description}”" for c in open_)
    raise ActionConflict(
        f"Version {version.number} cannot become champion while {len(open_)} condition"
        f"{'s are' if len(open_) > 1 else ' is'} open: {named}. A validator closes them first.",
        code="open_conditions",
    )


# --- Overdue ----------------------------------------------------------------------------------


def overdue_conditions(*, on: date | None = None) -> QuerySet[Finding]:
    """Conditions open past their due date, on versions where they still matter."""
    return Finding.objects.filter(
        kind=FindingKind.CONDITION,
        status=FindingStatus.OPEN,
        due__lt=on or today(),
        version__state__in=CONDITION_STATES,
    )


def is_overdue(finding: Finding, *, on: date | None = None) -> bool:
    return (
        finding.kind == FindingKind.CONDITION
        and finding.status == FindingStatus.OPEN
        and finding.due is not None
        and finding.due < (on or today())
        and finding.version.state in CONDITION_STATES
    )


def conditions_flag_overdue(*, on: date | None = None) -> list[Finding]:
    """The daily job: record each condition open past its due date, once (an ``overdue`` event
    in its history and an audit entry by the ``findings-monitor`` agent). Returns those flagged
    now; a condition flagged before, or closed meanwhile, is left alone (checked under its lock)."""
    from governance.access.services import service_account_get

    agent = service_account_get(FINDINGS_AGENT)
    flagged_before = FindingEvent.objects.filter(finding=OuterRef("pk"), action=EventAction.OVERDUE)
    flagged = []
    for finding_id in overdue_conditions(on=on).exclude(Exists(flagged_before)).values_list("pk", flat=True):
        with transaction.atomic():
            finding = (
                Finding.objects.select_for_update(of=("self",)).select_related("version__model", "owner").get(pk=finding_id)
            )
            if finding.status != FindingStatus.OPEN or finding.events.filter(action=EventAction.OVERDUE).exists():
                continue
            _event(
                finding, action=EventAction.OVERDUE, actor=agent, agent_name=FINDINGS_AGENT,
                annotation=f"Still open after its due date, {finding.due:%Y-%m-%d}.",
            )
        flagged.append(finding)
    return flagged


# --- Reads ------------------------------------------------------------------------------------


def _with_people(findings: QuerySet[Finding]) -> QuerySet[Finding]:
    events = FindingEvent.objects.select_related("actor").order_by("at", "id")
    return findings.select_related("version__model", "owner", "raised_by", "closed_by").prefetch_related(
        Prefetch("events", queryset=events)
    )


def open_conditions(version: ModelVersion) -> QuerySet[Finding]:
    """The version's conditions that no validator has closed yet, oldest first."""
    return Finding.objects.filter(version=version, kind=FindingKind.CONDITION, status=FindingStatus.OPEN).order_by(
        "raised_at", "id"
    )


def findings_of_version(version: ModelVersion) -> QuerySet[Finding]:
    """The version's conditions and findings with their people and history, oldest first."""
    return _with_people(Finding.objects.filter(version=version)).order_by("raised_at", "id")


def findings_of_model(model: MLModel) -> QuerySet[Finding]:
    """Every version's conditions and findings: open ones first, then by version, newest first."""
    return _with_people(Finding.objects.filter(version__model=model)).order_by("status", "-version__number", "raised_at", "id")


def overdue_version_numbers(model: MLModel) -> list[int]:
    """Numbers of the model's versions with a condition open past its due date, in order."""
    return sorted(set(overdue_conditions().filter(version__model=model).values_list("version__number", flat=True)))


def overdue_for_reviewer(*, user) -> QuerySet[Finding]:
    """Overdue conditions this validator could close: on models where they are a reviewer, on
    versions they did not author, by due date."""
    if not user.is_authenticated or not user.is_active or getattr(user, "is_service_account", False):
        return Finding.objects.none()
    if not user.has_role(GlobalRole.VALIDATOR):
        return Finding.objects.none()
    reviewed = get_objects_for_user(
        user, "registry.review_mlmodel", klass=MLModel, accept_global_perms=False, with_superuser=False
    )
    versions = ModelVersion.objects.filter(model__in=reviewed).exclude(authored_by(user))
    return (
        overdue_conditions()
        .filter(version__in=versions)
        .select_related("version__model", "owner", "raised_by")
        .order_by("due", "id")
    )


def finding_get(*, version: ModelVersion, pk: int) -> Finding:
    """One finding of a version the caller could see (``registry.selectors.version_get``); 404
    when the version has no such finding."""
    from django.http import Http404

    finding = _with_people(Finding.objects.filter(version=version, pk=pk)).first()
    if finding is None:
        raise Http404("No such finding.")
    return finding


def history_entries(version: ModelVersion) -> list[HistoryEntry]:
    """The version's finding events as timeline entries (raised, overdue, closed)."""
    events = (
        FindingEvent.objects.filter(finding__version=version)
        .select_related("finding", "actor")
        .order_by("at", "id")
    )
    return [
        HistoryEntry(
            kind="finding",
            at=event.at,
            actor=event.actor,
            actor_kind=event.actor_kind,
            agent_name=event.agent_name,
            annotation=event.annotation if event.action != EventAction.RAISED else "",
            title=f"{event.finding.get_kind_display()} {EVENT_TITLES.get(event.action, event.action)}",
            details={
                "action": event.action,
                "finding_kind": event.finding.kind,
                "description": event.finding.description,
                "severity": event.finding.severity,
                "due": event.finding.due,
            },
        )
        for event in events
    ]
