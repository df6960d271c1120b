"""Each crisis type walked through its protocol, through the API, on the time-skipping server."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import AuditEvent, DecisionRecord, Incident
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from tests.conftest import DemoProgram, Stack, eventually
from tests.workflows.scenarios import ASSESSMENTS, DEESCALATED, DISPATCH_911, disposition


async def decide(
    stack: Stack,
    program: DemoProgram,
    incident_id: str,
    body: dict[str, Any],
    role: Role = Role.CLINICIAN,
) -> dict[str, Any]:
    response = await stack.http.post(
        f"/v1/incidents/{incident_id}/decisions", json=body, headers=program.auth(role)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def open_incident(
    stack: Stack, program: DemoProgram, crisis_type: str = "suicidal_ideation", **extra: Any
) -> dict[str, Any]:
    response = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": crisis_type,
            "summary": "Client in crisis during group",
            "location": {"zip": "97201"},
            **extra,
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def settled_row(
    sessions: async_sessionmaker[AsyncSession], incident_id: str, revision: int
) -> Incident:
    """The projection once it has caught up with `revision` (the worker writes it)."""

    async def caught_up() -> Incident | None:
        async with sessions() as session:
            row = await session.get(Incident, UUID(incident_id))
        return row if row is not None and row.revision >= revision else None

    return await eventually(caught_up, f"projection at revision {revision}")


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
    assert response.status_code == 422
    assert response.json()["field"] == "safety_plan"
