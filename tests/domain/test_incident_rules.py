"""Pure rules of the incident state machine that timing in the workflow can expose."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.decisions import Actor, Cancel, Close, DecisionRequest
from domain.incident import IncidentOpening, IncidentState, LadderSummary
from domain.incident.machine import apply_decision, followup_started, open_incident
from domain.notification import LadderPurpose, LadderStatus
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role, Stage

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _opened(crisis_type: CrisisType = CrisisType.OTHER) -> tuple[IncidentState, Actor]:
    program, staff = uuid4(), uuid4()
    actor = Actor(staff_id=str(staff), role=Role.SUPERVISOR, program_id=program)
    state = open_incident(
        IncidentOpening(
            incident_id=uuid4(),
            program_id=program,
            client_id=uuid4(),
            crisis_type=crisis_type,
            summary="a crisis",
            owner_id=staff,
            opened_by=actor,
            opened_at=NOW,
            protocol=protocol_for(crisis_type),
        ),
        NOW,
    )
    return state, actor


def test_a_follow_up_that_starts_as_the_incident_closes_does_not_reopen_it() -> None:
    state, _ = _opened()
    state.stage = Stage.CLOSED
    assert followup_started(state, NOW).stage is Stage.CLOSED


@pytest.mark.parametrize("ending", [Close(reason="Stable at home"), Cancel(reason="Opened twice")])
def test_an_ending_incident_records_its_running_ladders_as_stopped(ending: Close | Cancel) -> None:
    """The workflow ends without waiting for the ladders it stops: the record must not show a
    ladder still running on a closed incident (a drill found them left `running`)."""
    state, actor = _opened()
    state.ladders = [
        LadderSummary(
            ladder_id=uuid4(), purpose=purpose, recipient_ids=[uuid4()], started_at=NOW, status=st
        )
        for purpose, st in (
            (LadderPurpose.EMERGENCY_CONTACT, LadderStatus.RUNNING),
            (LadderPurpose.EMERGENCY_CONTACT, LadderStatus.ACKNOWLEDGED),
        )
    ]
    request = DecisionRequest(decision_id=uuid4(), actor=actor, decision=ending)
    ended, effects = apply_decision(state, protocol_for(CrisisType.OTHER), request, NOW)
    assert [ladder.status for ladder in ended.ladders] == [
        LadderStatus.STOPPED,
        LadderStatus.ACKNOWLEDGED,
    ]
    assert ended.ladders[0].ended_at == NOW
    assert effects.stop_ladders == [state.ladders[0].ladder_id]
