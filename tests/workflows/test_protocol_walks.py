"""Each crisis type walked through its protocol, through the API, on the time-skipping server."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import AuditEvent, DecisionRecord
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from tests.helpers.incidents import decide, open_incident, settled_row
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import ASSESSMENTS, DEESCALATED, DISPATCH_911, disposition


@pytest.mark.parametrize("crisis_type", list(CrisisType))
async def test_crisis_type_walks_from_open_to_closed(
    crisis_type: CrisisType,
    stack: Stack,
    program: DemoProgram,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    protocol = protocol_for(crisis_type)
    incident = await open_incident(stack, program, crisis_type)
    assert incident["stage"] == "open"
    assert incident["protocol_version"] == protocol.version
    assert incident["required_steps"] == ["assessment"]
    stages = [incident["stage"]]

    state = await decide(stack, program, incident["id"], ASSESSMENTS[crisis_type])
    stages.append(state["stage"])
    if "dispatch" in state["required_steps"]:
        refused = await stack.http.post(
            f"/v1/incidents/{incident['id']}/decisions",
            json=disposition(protocol.requires_safety_plan),
            headers=program.auth(Role.CLINICIAN),
        )
        assert refused.status_code == 409
        assert "dispatch" in refused.json()["detail"]
        state = await decide(stack, program, incident["id"], DISPATCH_911)
        stages.append(state["stage"])
        assert state["required_steps"] == []
        # The team took the client to the ER: a close is refused while it is still en route.
        dispatch_id = state["dispatches"][-1]["dispatch_id"]
        state = await decide(
            stack,
            program,
            incident["id"],
            {"kind": "dispatch_update", "dispatch_id": dispatch_id, "status": "transported"},
        )
        assert state["required_steps"] == []
    else:
        state = await decide(stack, program, incident["id"], DEESCALATED)
        stages.append(state["stage"])
    state = await decide(stack, program, incident["id"], disposition(protocol.requires_safety_plan))
    stages.append(state["stage"])
    state = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "close", "reason": "Stable, follow-up booked"},
        role=Role.SUPERVISOR,
    )
    stages.append(state["stage"])

    middle = (
        "responding"
        if crisis_type in (CrisisType.OVERDOSE, CrisisType.INTOXICATION)
        else "deescalating"
    )
    assert stages == ["open", "assessing", middle, "stabilized", "closed"]
    assert state["pending_timers"] == []

    row = await settled_row(sessions, incident["id"], state["revision"])
    assert row.stage == "closed"
    assert row.protocol_version == protocol.version
    async with sessions() as session:
        kinds = (
            await session.exec(
                select(DecisionRecord.kind).where(DecisionRecord.incident_id == row.id)
            )
        ).all()
        audited = (
            await session.exec(select(AuditEvent.action).where(AuditEvent.incident_id == row.id))
        ).all()
    assert sorted(kinds) == sorted(d["kind"] for d in state["decisions"])
    assert len(kinds) == len(state["decisions"]) in (4, 5)
    assert "incident.opened" in audited
    assert sum(a.startswith("decision.") for a in audited) == len(kinds)


async def test_safety_plan_required_where_the_protocol_asks(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(stack, program, incident["id"], ASSESSMENTS[CrisisType.SUICIDAL_IDEATION])
    response = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json=disposition(with_safety_plan=False),
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 409
    assert response.json()["field"] == "safety_plan"
