"""A version's history: one list, oldest first, made from several sources.

The lifecycle app gives transitions, annotations and sign-offs; the test suites give their
test runs and warm-ups. The sources are listed in ``governance/version_wiring.py``
(``VERSION_HISTORY_SOURCES``). The API's history endpoint and the version page's timeline both
read ``version_history``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from governance.version_wiring import version_history_sources

from .models import SignOff


@dataclass(frozen=True)
class HistoryEntry:
    kind: str  # transition | annotation | signoff | test_run | warmup | ...
    at: datetime
    actor: Any  # a User, or None for a scheduled job
    actor_kind: str  # human | agent
    annotation: str = ""
    from_state: str | None = None
    to_state: str | None = None
    agent_name: str = ""
    # A short title for the timeline: the transition's name, "approve", "note"...
    title: str = ""
    details: dict = field(default_factory=dict)

    @property
    def actor_name(self) -> str:
        """The name the API shows: a person's username, an agent's job name."""
        if self.agent_name:
            return self.agent_name
        return self.actor.username if self.actor is not None else ""

    @property
    def actor_display(self) -> str:
        if self.actor is not None and self.actor_kind == "human":
            return self.actor.display_name
        return self.actor_name

    def as_api(self) -> dict:
        return {
            "kind": self.kind,
            "title": self.title,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor_name,
            "actor_kind": self.actor_kind,
            "annotation": self.annotation,
            "at": self.at,
            "details": self.details,
        }


def version_history(version) -> list[HistoryEntry]:
    """Every entry of every source, oldest first (stable within a source)."""
    entries: list[HistoryEntry] = []
    for source in version_history_sources():
        entries.extend(source(version))
    return sorted(entries, key=lambda entry: entry.at)


def _acted(kind: str, row, actor, **fields) -> HistoryEntry:
    """The entry for a row that says when it was made and by whom, a person or an agent."""
    return HistoryEntry(kind=kind, at=row.at, actor=actor, actor_kind=row.actor_kind, agent_name=row.agent_name, **fields)


def transition_entries(version) -> list[HistoryEntry]:
    return [
        _acted(
            "transition",
            record,
            record.actor,
            annotation=record.annotation,
            from_state=record.from_state,
            to_state=record.to_state,
            title=record.name,
            details={"name": record.name, "policy": record.policy, **record.details},
        )
        for record in version.transitions.select_related("actor").order_by("at", "id")
    ]


def annotation_entries(version) -> list[HistoryEntry]:
    return [
        _acted("annotation", note, note.author, annotation=note.text, title="note")
        for note in version.annotations.select_related("author").order_by("at", "id")
    ]


def signoff_entries(version) -> list[HistoryEntry]:
    signoffs: Iterable[SignOff] = (
        version.signoffs.select_related("signer").prefetch_related("findings").order_by("at", "id")
    )
    return [
        HistoryEntry(
            kind="signoff",
            at=signoff.at,
            actor=signoff.signer,
            actor_kind="human",
            annotation=signoff.annotation,
            title=signoff.decision,
            details={
                "decision": signoff.decision,
                "meaning": signoff.meaning,
                "signer_full_name": signoff.signer_full_name,
                "artifact_sha256": signoff.artifact_sha256,
                "with_mfa": signoff.with_mfa,
                "policy": signoff.policy,
                # The conditions or findings raised with the signature, as raised.
                "findings": [
                    {
                        "kind": finding.kind,
                        "description": finding.description,
                        "severity": finding.severity,
                        "due": finding.due.isoformat() if finding.due else None,
                    }
                    for finding in sorted(signoff.findings.all(), key=lambda finding: finding.pk)
                ],
            },
        )
        for signoff in signoffs
    ]
