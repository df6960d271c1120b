"""Pure rules of the incident state machine that timing in the workflow can expose."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from domain.decisions import Actor
from domain.incident import IncidentOpening, followup_started, open_incident
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role, Stage


def test_a_follow_up_that_starts_as_the_incident_closes_does_not_reopen_it() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    program, staff = uuid4(), uuid4()
    state = open_incident(
        IncidentOpening(
            incident_id=uuid4(),
            program_id=program,
            client_id=uuid4(),
            crisis_type=CrisisType.OTHER,
            summary="closed while follow-up was starting",
            owner_id=staff,
            opened_by=Actor(staff_id=str(staff), role=Role.CLINICIAN, program_id=program),
            opened_at=now,
            protocol=protocol_for(CrisisType.OTHER),
        ),
        now,
    )
    state.stage = Stage.CLOSED
    assert followup_started(state, now).stage is Stage.CLOSED
