"""Lists and follow-up task answers are audited (SPEC 10.2): who read which records, and when, in
the program's chain."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import AuditEvent, FollowUpTask, Incident
from domain.vocabulary import Role
from infra.audit_log import verify_chain
from tests.helpers.followup import TO_FOLLOWUP
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram, add_emailed_sister
from tests.helpers.stack import Stack


async def audited(sessions: async_sessionmaker[AsyncSession], action: str) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
        )
        return list(rows.all())


async def opened(stack: Stack, program: DemoProgram) -> dict[str, Any]:
    response = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "panic",
            "summary": "Panic attack during group",
            "location": {"zip": "97201"},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_reading_a_list_is_an_audit_event_naming_what_was_listed(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident = await opened(stack, program)

    async def projected() -> Incident | None:
        async with sessions() as session:
            return await session.get(Incident, uuid.UUID(incident["id"]))

    await eventually(projected, "the incident in the list")
    await add_emailed_sister(sessions, program)
    supervisor, admin = program.staff[Role.SUPERVISOR], program.staff[Role.ADMIN]
    client_path = f"/v1/clients/{program.client.id}"
    for path, who in (
        ("/v1/incidents", Role.SUPERVISOR),
        ("/v1/clients", Role.SUPERVISOR),
        (f"{client_path}/contacts", Role.SUPERVISOR),
        (f"{client_path}/consents", Role.ADMIN),
    ):
        response = await stack.http.get(path, headers=program.auth(who))
        assert response.status_code == 200, (path, response.text)

    (listed,) = await audited(sessions, "incidents.listed")
    assert listed.actor_id == str(supervisor.id)
    assert listed.detail == {"incident_ids": [incident["id"]]}
    (clients,) = await audited(sessions, "clients.listed")
    assert clients.detail == {"client_ids": [str(program.client.id)]}
    (contacts,) = await audited(sessions, "contacts.listed")
    assert contacts.detail == {"client_id": str(program.client.id)}
    (consents,) = await audited(sessions, "consents.listed")
    assert (consents.actor_id, consents.detail) == (
        str(admin.id),
        {"client_id": str(program.client.id)},
    )
    assert {e.program_id for e in (listed, clients, contacts, consents)} == {program.program.id}
    assert (await verify_chain(sessions))[1] is None


async def test_a_claimed_or_completed_task_answer_is_an_audited_read(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident = await opened(stack, program)
    for body in TO_FOLLOWUP:
        response = await stack.http.post(
            f"/v1/incidents/{incident['id']}/decisions",
            json=body,
            headers=program.auth(Role.CLINICIAN),
        )
        assert response.status_code == 200, response.text

    async def first_task() -> FollowUpTask | None:
        async with sessions() as session:
            return (
                await session.exec(
                    select(FollowUpTask)
                    .where(FollowUpTask.incident_id == uuid.UUID(incident["id"]))
                    .order_by(col(FollowUpTask.sequence))
                )
            ).first()

    task = await eventually(first_task, "a follow-up task")
    followup = program.auth(Role.FOLLOWUP)
    claimed = await stack.http.post(f"/v1/tasks/{task.id}/claim", headers=followup)
    assert claimed.status_code == 200, claimed.text
    done = await stack.http.post(
        f"/v1/tasks/{task.id}/complete", json={"outcome": "reached_safe"}, headers=followup
    )
    assert done.status_code == 200, done.text

    reads = await audited(sessions, "tasks.read")
    assert [(e.actor_id, e.incident_id, e.detail) for e in reads] == [
        (str(program.staff[Role.FOLLOWUP].id), task.incident_id, {"task_ids": [str(task.id)]})
    ] * 2


async def test_reading_one_client_is_an_audit_event_and_an_unknown_id_is_not(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A client's record holds a name and a phone number: reading it is audited like the list."""
    path = f"/v1/clients/{program.client.id}"
    for who in (Role.CLINICIAN, Role.ADMIN):
        response = await stack.http.get(path, headers=program.auth(who))
        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(program.client.id)
    unknown = await stack.http.get(f"/v1/clients/{uuid.uuid4()}", headers=program.auth(Role.ADMIN))
    assert unknown.status_code == 404

    reads = await audited(sessions, "client.read")
    assert [(e.actor_id, e.program_id, e.detail) for e in reads] == [
        (str(program.staff[role].id), program.program.id, {"client_id": str(program.client.id)})
        for role in (Role.CLINICIAN, Role.ADMIN)
    ]
    assert (await verify_chain(sessions))[1] is None
