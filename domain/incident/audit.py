"""The audit entries an incident's workflow writes: opened, decided, acknowledged, and the
system's own events. One shape each, whichever workflow type records them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.audit import AuditEntry
from domain.incident.state import DecisionEntry, IncidentOpening, IncidentState
from domain.notification import Acknowledgement


def opened(opening: IncidentOpening) -> AuditEntry:
    return AuditEntry(
        event_key=f"{opening.incident_id}:opened",
        program_id=opening.program_id,
        action="incident.opened",
        actor_id=opening.opened_by.staff_id,
        actor_role=str(opening.opened_by.role),
        at=opening.opened_at,
        incident_id=opening.incident_id,
        detail={"crisis_type": opening.crisis_type, "protocol": opening.protocol.version},
    )


def decided(state: IncidentState, entry: DecisionEntry) -> AuditEntry:
    """A decision, with its facts (never the clinician's documentation)."""
    return AuditEntry(
        event_key=f"decision:{entry.decision_id}",
        program_id=state.program_id,
        action=f"decision.{entry.kind}",
        actor_id=entry.actor_id,
        actor_role=entry.actor_role,
        at=entry.at,
        incident_id=state.incident_id,
        detail={"decision_id": str(entry.decision_id), **entry.detail},
    )


def acknowledged(
    state: IncidentState, ladder_id: UUID, ack: Acknowledgement, at: datetime
) -> AuditEntry:
    return AuditEntry(
        event_key=f"ack:{ladder_id}:{ack.recipient_id}:{ack.via}",
        program_id=state.program_id,
        action="contact.acknowledged",
        actor_id=str(ack.recipient_id),
        actor_role="contact",
        at=at,
        incident_id=state.incident_id,
        detail={"ladder_id": str(ladder_id), "via": ack.via},
    )


def incident_event(
    state: IncidentState,
    action: str,
    detail: dict[str, Any],
    *,
    at: datetime,
    actor: tuple[str, str] = ("system", "system"),
    key: str | None = None,
) -> AuditEntry:
    """Something that happened to the incident (a follow-up's news, an SOS press, a close)."""
    return AuditEntry(
        event_key=f"{state.incident_id}:{key or f'{action}:{state.revision}'}",
        program_id=state.program_id,
        action=action,
        actor_id=actor[0],
        actor_role=actor[1],
        at=at,
        incident_id=state.incident_id,
        detail=detail,
    )
