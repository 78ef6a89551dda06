"""The one place where a version's state changes.

``version_transition`` is called by the pages, the API, Celery tasks and management commands
alike. In one database transaction it locks the version, checks who is asking, runs the
django-fsm transition, saves, and writes the transition record; side effects are queued to run
after commit.
"""

from __future__ import annotations

from typing import Any, Callable

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from governance.errors import ActionConflict, ActionForbidden, AnnotationRequired
from governance.registry.models import ModelVersion, VersionState

from .models import ActorKind, Annotation, TransitionRecord
from .rules import RULES

# Callables run after commit of a transition, by transition name: f(version_id=..., record_id=...).
# Other apps register here (e.g. the test suites app starts a run after "submit").
AFTER_COMMIT: dict[str, list[Callable[..., Any]]] = {}


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
    from . import policy

    return policy.policy_snapshot(version.model.risk_tier)


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

    Raises ActionForbidden (403), AnnotationRequired (400) or ActionConflict (409). Returns the
    fresh version. ``_internal`` is for the sign-off service, which checks its own rules.
    """
    rule = RULES.get(name)
    if rule is None:
        raise ActionConflict(f"There is no transition called '{name}'.", code="unknown_transition")
    if rule.via_signoff and not _internal:
        raise ActionForbidden(f"'{name}' happens through reviewers' sign-offs, not by name.")
    if actor is not None and not actor.is_active:
        raise ActionForbidden("This account is deactivated.")
    annotation = (annotation or "").strip()

    with transaction.atomic():
        # Lock the row: a second caller waits here and then sees the state the first left.
        locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        if not _internal and not rule.who(actor, locked.model):
            raise ActionForbidden(_refusal(name))
        if rule.annotation_required and not annotation:
            raise AnnotationRequired(f"'{name}' needs an annotation that says why.")
        method = getattr(locked, name)
        if not can_proceed(method):
            raise ActionConflict(
                f"A version in state '{locked.state}' cannot '{name}'.", code="transition_not_allowed"
            )
        records = []
        policy = current_policy(locked)
        kind = actor_kind_of(actor)
        if name in ("promote_to_champion", "rollback"):
            records.extend(_retire_current_champion(locked, actor, kind, agent_name, policy, name))
        from_state = locked.state
        method()
        locked.state_changed_at = timezone.now()
        locked.save(update_fields=["state", "state_changed_at", "was_champion"])
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
                policy=policy,
                details=details or {},
            )
        )
        for record in records:
            for func in AFTER_COMMIT.get(record.name, []):
                transaction.on_commit(
                    lambda func=func, record=record: func(version_id=record.version_id, record_id=record.pk)
                )
    return locked


def _retire_current_champion(new, actor, kind, agent_name, policy, cause) -> list[TransitionRecord]:
    """Retire the model's champion in the same transaction, recording who replaced it."""
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
            policy=policy,
            details={"replaced_by": new.number, "cause": cause},
        )
    ]


def annotation_add(*, version: ModelVersion, author, text: str, agent_name: str = "") -> Annotation:
    """Anyone who can see a version may annotate it; the caller checks visibility."""
    text = (text or "").strip()
    if not text:
        raise AnnotationRequired("An annotation needs some text.", field="text")
    if author is not None and not author.is_active:
        raise ActionForbidden("This account is deactivated.")
    return Annotation.objects.create(
        version=version, text=text, author=author, actor_kind=actor_kind_of(author), agent_name=agent_name
    )


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
