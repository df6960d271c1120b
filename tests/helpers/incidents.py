"""An incident through the API: open it, decide on it, read its detail and its projection."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import Incident
from domain.vocabulary import Role
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack


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


async def detail(stack: Stack, program: DemoProgram, incident_id: str) -> dict[str, Any]:
    response = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.SUPERVISOR)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled_row(
    sessions: async_sessionmaker[AsyncSession], incident_id: str, revision: int
) -> Incident:
    """The projection once it has caught up with `revision` (the worker writes it)."""

    async def caught_up() -> Incident | None:
        async with sessions() as session:
            row = await session.get(Incident, UUID(incident_id))
        return row if row is not None and row.revision >= revision else None

    return await eventually(caught_up, f"projection at revision {revision}")
