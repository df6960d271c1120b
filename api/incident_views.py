"""What the API answers about incidents: request bodies and views built from workflow state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from domain.decisions import DECISION_ROLES, Location
from domain.incident import IncidentState
from domain.models.text import NulFreeText
from domain.vocabulary import CrisisType, DecisionKind, RiskLevel, Role, Stage


class IncidentCreate(NulFreeText):
    client_id: uuid.UUID
    crisis_type: CrisisType
    summary: str = Field(min_length=3, max_length=2000)
    location: Location | None = None


class PendingTimer(BaseModel):
    name: str
    due_at: datetime
    pages_sent: int


class IncidentView(BaseModel):
    id: uuid.UUID
    workflow_id: str
    client_id: uuid.UUID
    stage: Stage
    crisis_type: CrisisType
    risk_level: RiskLevel | None
    owner: uuid.UUID
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    protocol_version: str
    summary: str
    location: Location | None
    required_steps: list[DecisionKind]
    origin: str
    sos_presses: int
    contact_lost: bool
    contact_lost_since: datetime | None
    welfare_check_required: bool
    allowed_decisions: list[DecisionKind]
    pending_timers: list[PendingTimer]
    assessments: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    pages: list[dict[str, Any]]
    dispatches: list[dict[str, Any]]
    ladders: list[dict[str, Any]]
    part2_disclosures: list[dict[str, Any]]
    notifications: list[dict[str, Any]] = Field(default_factory=list)
    tasks: list[dict[str, Any]] = Field(default_factory=list)
    # What could not be done: pages that reached nobody of their target, with the reason.
    unreachable: list[dict[str, Any]] = Field(default_factory=list)
    # The case file could not be written; the incident carries on (SPEC 10.1).
    projection_error: str | None = None
    # What a close stopped (contact ladders, follow-up tasks).
    stopped_by_close: list[str] = Field(default_factory=list)
    revision: int
    live: bool = True


def incident_view(state: IncidentState, *, role: Role, live: bool = True) -> IncidentView:
    """The incident as `role` sees it: `allowed_decisions` are those this role may record now."""
    return IncidentView(
        id=state.incident_id,
        workflow_id=state.workflow_id,
        client_id=state.client_id,
        stage=state.stage,
        crisis_type=state.crisis_type,
        risk_level=state.risk_level,
        owner=state.owner_id,
        opened_by=state.opened_by,
        opened_at=state.opened_at,
        updated_at=state.updated_at,
        ended_at=state.ended_at,
        protocol_version=state.protocol_version,
        summary=state.summary,
        location=state.location,
        required_steps=state.required_steps,
        origin=state.origin,
        sos_presses=state.sos_presses,
        contact_lost=state.contact_lost,
        contact_lost_since=state.contact_lost_since,
        welfare_check_required=state.welfare_check_required,
        allowed_decisions=[k for k in state.allowed_decisions if role in DECISION_ROLES[k]],
        pending_timers=[
            PendingTimer(name=a.name, due_at=a.due_at, pages_sent=a.pages_sent)
            for a in state.alarms
        ],
        assessments=[a.model_dump(mode="json") for a in state.assessments],
        decisions=[d.model_dump(mode="json") for d in state.decisions],
        pages=[p.model_dump(mode="json") for p in state.pages],
        dispatches=[d.model_dump(mode="json") for d in state.dispatches],
        ladders=[ladder.model_dump(mode="json") for ladder in state.ladders],
        part2_disclosures=[d.model_dump(mode="json") for d in state.part2_disclosures],
        unreachable=[u.model_dump(mode="json") for u in state.unreachable],
        projection_error=state.projection_error,
        stopped_by_close=state.stopped_by_close,
        revision=state.revision,
        live=live,
    )


class IncidentSummary(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    crisis_type: str
    stage: str
    risk_level: str | None
    owner: uuid.UUID
    opened_at: datetime
    updated_at: datetime
    protocol_version: str
    # For the board: the timer due first (a page when it runs out), and pages that reached nobody.
    next_timer: PendingTimer | None = None
    unreachable: int = 0


class IncidentList(BaseModel):
    data: list[IncidentSummary]
    count: int


class TimelineEvent(BaseModel):
    at: datetime
    type: str
    # A staff member's id, "system", or the Temporal identity that made the event.
    actor: str
    detail: dict[str, Any]
    # Who the staff member is, when the actor is one (SPEC 10.4: the history names actors).
    actor_name: str | None = None
    actor_role: str | None = None


class IncidentHistory(BaseModel):
    incident_id: uuid.UUID
    events: list[TimelineEvent]
