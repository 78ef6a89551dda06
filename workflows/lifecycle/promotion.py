"""Promotion guardrails: a challenger shadows the champion long enough before it replaces it.

Where a model has a champion, a challenger becomes champion only after it has scored in shadow
beside that champion for its tier's ``ApprovalPolicy.min_shadow_hours`` and
``min_shadow_requests`` (tier: ``policy.effective_risk_tier``). Shadow time counts from the
moment both were in place (the later of the two versions' ``state_changed_at``); requests are the
challenger's shadow ``ScoringRecord`` rows since then that answered (not errors). A model without a champion has nothing to
shadow, so its first champion is not held back; a rollback is not either (the version it
reinstates has served before).

``promotion_guard`` is the rule, called by the transition service under the model's lock; an
admin may promote early with ``override`` and a reason, and the override with the shortfall it
overrode is recorded with the transition. ``shadow_figures`` is the same measurement for pages
and the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.utils import timezone
from rest_framework import serializers

from governance.access import selectors as access_selectors
from governance.errors import ActionConflict, ActionError, ActionForbidden, AnnotationRequired
from governance.registry.models import ModelVersion, VersionState

from . import policy
from .models import TransitionRecord

# The transition the guardrails hold back, and the only one an override applies to.
GUARDED_TRANSITION = "promote_to_champion"


@dataclass(frozen=True)
class ShadowFigures:
    """How long and on how many requests a challenger has shadowed the champion, against the
    minimums of its model's tier."""

    champion_number: int
    risk_tier: str
    since: datetime
    hours: float
    requests: int
    required_hours: int
    required_requests: int

    @property
    def hours_met(self) -> bool:
        return self.hours >= self.required_hours

    @property
    def requests_met(self) -> bool:
        return self.requests >= self.required_requests

    @property
    def met(self) -> bool:
        return self.hours_met and self.requests_met

    @property
    def hours_shown(self) -> str:
        return hours_text(self.hours)

    @property
    def summary(self) -> str:
        """e.g. "shadowed 3 h and 40 requests of the required 72 h and 500"."""
        return (
            f"shadowed {hours_text(self.hours)} and {self.requests} request{'s' if self.requests != 1 else ''} "
            f"of the required {hours_text(self.required_hours)} and {self.required_requests}"
        )

    def as_details(self) -> dict:
        """The figures as recorded with the transition and shown by the API."""
        return {
            "champion": self.champion_number,
            "risk_tier": self.risk_tier,
            "since": self.since.isoformat(),
            "hours": self.hours,
            "requests": self.requests,
            "required_hours": self.required_hours,
            "required_requests": self.required_requests,
            "summary": self.summary,
        }


def hours_text(hours: float) -> str:
    """Hours for people: "3 h", "2.5 h" (one decimal, rounded down so a shortfall never reads as met)."""
    shown = math.floor(hours * 10) / 10
    return f"{shown:g} h"


def shadow_figures(version: ModelVersion, *, now: datetime | None = None) -> ShadowFigures | None:
    """The challenger's shadow figures beside the model's current champion, or None when there
    is nothing to measure: the version is not a challenger, or the model has no champion."""
    if version.state != VersionState.CHALLENGER:
        return None
    champion = (
        ModelVersion.objects.filter(model_id=version.model_id, state=VersionState.CHAMPION)
        .exclude(pk=version.pk)
        .only("number", "state_changed_at")
        .first()
    )
    if champion is None:
        return None
    since = max(version.state_changed_at, champion.state_changed_at)
    now = now or timezone.now()
    # The gateway writes the scoring records; lifecycle names them by app label, as they belong
    # to the app built on this one.
    scoring_record = apps.get_model("testsuites", "ScoringRecord")
    # Only shadow scorings that answered count: a challenger that errors has not shadowed. The
    # model narrows it to the shadow index's range (model, time), read without the table.
    requests = scoring_record.objects.filter(
        model_id=version.model_id, version_id=version.pk, shadow=True, at__gte=since, error=""
    ).count()
    tier = policy.effective_risk_tier(version.model)
    minimums = policy.shadow_minimums(tier)
    return ShadowFigures(
        champion_number=champion.number,
        risk_tier=tier,
        since=since,
        hours=max((now - since).total_seconds(), 0) / 3600,
        requests=requests,
        required_hours=minimums["min_shadow_hours"],
        required_requests=minimums["min_shadow_requests"],
    )


def override_refusal(*, name: str, actor, override: bool) -> None:
    """Refuse an override that is not an admin's (403), or that is sent with another transition
    than the promotion to champion (400)."""
    if not override:
        return
    if name != GUARDED_TRANSITION:
        raise ActionError(
            "Only a promotion to champion can be overridden.", code="override_not_applicable", field="override"
        )
    if not access_selectors.is_admin(actor):
        raise ActionForbidden("Only an admin overrides the promotion guardrails.", code="override_not_allowed")


def promotion_guard(version: ModelVersion, *, actor, override: bool, annotation: str) -> dict:
    """The guardrail on ``version`` (row-locked, its model locked, by the caller): raises
    ActionConflict (409 ``shadow_too_short``) when the challenger has not shadowed the champion
    enough, unless an admin overrides with a reason (``override_refusal`` has let only an admin's
    override through). Returns what to record with the transition: the figures measured, and the
    override with the shortfall it overrode."""
    figures = shadow_figures(version)
    if figures is None:
        return {}
    details = {"shadow": figures.as_details()}
    if figures.met:
        return details
    shortfall = f"Version {version.number} has {figures.summary} beside champion version {figures.champion_number}"
    if not override:
        raise ActionConflict(
            f"{shortfall} ({figures.risk_tier} risk tier), so it cannot become champion yet. "
            "An admin may override with a reason.",
            code="shadow_too_short",
        )
    if not (annotation or "").strip():
        raise AnnotationRequired("An override of the promotion guardrails needs the reason in the annotation.")
    details["override"] = {"by": actor.username, "shortfall": f"{shortfall}."}
    return details


@dataclass(frozen=True)
class ChampionChangePreview:
    """What a promotion to champion or a rollback will do, for its confirmation page."""

    name: str
    version_number: int
    champion_number: int | None
    figures: ShadowFigures | None

    @property
    def sentence(self) -> str:
        if self.champion_number is None:
            return f"Version {self.version_number} becomes the model's champion; it has no champion to replace."
        return (
            f"Version {self.version_number} replaces version {self.champion_number} as champion; "
            f"version {self.champion_number} will be retired and can be rolled back to."
        )

    @property
    def held_back(self) -> bool:
        """True when the guardrail refuses the promotion unless an admin overrides it."""
        return self.figures is not None and not self.figures.met


def champion_change_preview(version: ModelVersion, *, name: str) -> ChampionChangePreview:
    """The champion that ``name`` (``promote_to_champion`` or ``rollback``) on ``version`` would
    replace, and, for a promotion, the shadow figures against the minimums."""
    champion = (
        ModelVersion.objects.filter(model_id=version.model_id, state=VersionState.CHAMPION)
        .exclude(pk=version.pk)
        .values_list("number", flat=True)
        .first()
    )
    figures = shadow_figures(version) if name == GUARDED_TRANSITION else None
    return ChampionChangePreview(
        name=name, version_number=version.number, champion_number=champion, figures=figures
    )


def champion_change_outcome(version: ModelVersion, *, name: str) -> str:
    """What the last ``name`` (promotion to champion or rollback) of ``version`` did, in words:
    what became champion, what was retired, and any override of the guardrails."""
    record = TransitionRecord.objects.filter(version=version, name=name).order_by("-at", "-id").first()
    details = record.details if record else {}
    became = (
        f"Version {version.number} is the champion again" if name == "rollback"
        else f"Version {version.number} is now the champion"
    )
    replaced = details.get("replaced")
    if replaced is None:
        sentence = f"{became}; the model had no champion to retire."
    else:
        sentence = f"{became}; version {replaced} was retired and can be rolled back to."
    override = details.get("override")
    if override:
        sentence += f" The shadow minimums were overridden: {override['shortfall']}"
    return sentence


def api_shadow(version: ModelVersion, request) -> dict | None:
    """The version API's ``shadow``: a challenger's figures beside the champion, else null."""
    figures = shadow_figures(version)
    if figures is None:
        return None
    return {
        "since": serializers.DateTimeField().to_representation(figures.since),
        "hours": round(figures.hours, 2),
        "requests": figures.requests,
        "required_hours": figures.required_hours,
        "required_requests": figures.required_requests,
        "champion": figures.champion_number,
        "met": figures.met,
    }
