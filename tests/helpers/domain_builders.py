"""Builders of plain domain values for the pure tests: one program, its clinician, one moment,
an incident's opening and a decision request, as the API would send them. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.decisions import Actor, DecisionRequest, Location
from domain.incident import IncidentOpening, IncidentState
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=3)
PROGRAM = UUID("00000000-0000-4000-8000-00000000000a")
OWNER = UUID("00000000-0000-4000-8000-0000000000b1")
CLINICIAN = Actor(staff_id=str(OWNER), role=Role.CLINICIAN, program_id=PROGRAM)
HOME = Location(address="12 Alder St, Portland OR 97201")


def opening(
    crisis_type: CrisisType = CrisisType.SUICIDAL_IDEATION, **fields: Any
) -> IncidentOpening:
    """An incident the clinician OWNER opens at NOW for a new client, on its type's protocol;
    `fields` replace any of these."""
    values: dict[str, Any] = {
        "incident_id": uuid4(),
        "program_id": PROGRAM,
        "client_id": uuid4(),
        "crisis_type": crisis_type,
        "summary": "a crisis",
        "owner_id": OWNER,
        "opened_by": CLINICIAN,
        "opened_at": NOW,
        "protocol": protocol_for(crisis_type),
    }
    return IncidentOpening(**(values | fields))


def tracking(state: IncidentState) -> IncidentState:
    """The state as the current workflow keeps it: tracking its dispatches and follow-ups."""
    return state.model_copy(update={"dispatch_tracking": True, "followup_tracking": True})


def decision_request(
    decision: object, actor: Actor = CLINICIAN, **extra: object
) -> DecisionRequest:
    """A decision as the API hands it to the workflow; `extra` adds the request's other fields
    (disclosure context, client channels, digest)."""
    return DecisionRequest.model_validate(
        {"decision_id": uuid4(), "actor": actor, "decision": decision} | extra
    )
