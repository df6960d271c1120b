"""Break-glass (SPEC 1 and 10.2): a supervisor of another program reads an incident for 60
minutes, with a reason, audited, and the incident's own supervisors paged; then 404 again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import request_time
from domain.models import AuditEvent, Incident, Notification
from domain.vocabulary import Role
from infra.audit_log import verify_chain
from tests.fakes.smtp import SmtpSink
from tests.helpers.polling import eventually
from tests.helpers.problems import assert_invalid, assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack

REASON = "Client of ours admitted to their ER; need the crisis plan now"


def app_of(stack: Stack) -> FastAPI:
    app: FastAPI = stack.http._transport.app  # type: ignore[attr-defined]
    return app


def clock_at(app: FastAPI, now: datetime) -> None:
    app.dependency_overrides[request_time] = lambda: now


async def opened_and_projected(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> str:
    response = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "suicidal_ideation",
            "summary": "Disclosed a plan during group",
            "location": {"zip": "97201"},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 201, response.text
    incident_id: str = response.json()["id"]

    async def projected() -> Incident | None:
        async with sessions() as session:
            return await session.get(Incident, uuid.UUID(incident_id))

    await eventually(projected, "the incident's case file")
    return incident_id


async def test_break_glass_grants_60_minutes_is_audited_pages_then_404_again(
    reachable_stack: Stack,
    program: DemoProgram,
    sessions: async_sessionmaker[AsyncSession],
    smtp_sink: SmtpSink,
) -> None:
    stack, app = reachable_stack, app_of(reachable_stack)
    other = await make_program(sessions, "other")
    incident_id = await opened_and_projected(stack, program, sessions)
    detail, history = f"/v1/incidents/{incident_id}", f"/v1/incidents/{incident_id}/history"
    glass = f"{detail}/break-glass"
    theirs = other.auth(Role.SUPERVISOR)
    unknown = await stack.http.get(f"/v1/incidents/{uuid.uuid4()}", headers=theirs)
    assert_problem(unknown, 404)
    before = await stack.http.get(detail, headers=theirs)
    assert before.content == unknown.content
    assert_problem(await stack.http.get(history, headers=theirs), 404)

    granted = await stack.http.post(glass, json={"reason": REASON}, headers=theirs)
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    granted_at = datetime.fromisoformat(grant["granted_at"])
    assert datetime.fromisoformat(grant["expires_at"]) - granted_at == timedelta(minutes=60)

    # Detail and history, read only.
    read = await stack.http.get(detail, headers=theirs)
    assert read.status_code == 200, read.text
    assert read.json()["id"] == incident_id
    assert read.json()["allowed_decisions"] == []
    timeline = await stack.http.get(history, headers=theirs)
    assert timeline.status_code == 200, timeline.text
    glass_events = [e for e in timeline.json()["events"] if e["type"] == "audit.break_glass"]
    assert [(e["actor"], e["detail"]["reason"]) for e in glass_events] == [
        (str(other.staff[Role.SUPERVISOR].id), REASON)
    ]
    note = await stack.http.post(
        f"{detail}/decisions", json={"kind": "note", "text": "not ours to write"}, headers=theirs
    )
    assert_problem(note, 404)
    listed = await stack.http.get("/v1/incidents", headers=theirs)
    assert incident_id not in listed.text

    # Audited in the owning program's chain, with the reason; the reads under it too.
    async with sessions() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.incident_id == uuid.UUID(incident_id))
            )
        ).all()
    by_action = {e.action: e for e in events if e.actor_id == str(other.staff[Role.SUPERVISOR].id)}
    assert by_action["break_glass"].program_id == program.program.id
    assert by_action["break_glass"].detail["reason"] == REASON
    assert by_action["incident.read"].detail == {"break_glass_grant": grant["id"]}
    assert by_action["incident.read"].program_id == program.program.id
    assert (await verify_chain(sessions))[1] is None

    # The incident's own supervisor is paged, by the paging path (recorded and mailed).
    supervisor = program.staff[Role.SUPERVISOR]

    async def paged() -> list[Notification] | None:
        async with sessions() as session:
            rows = (
                await session.exec(
                    select(Notification).where(
                        Notification.incident_id == uuid.UUID(incident_id),
                        Notification.recipient_id == str(supervisor.id),
                        Notification.purpose == "page",
                    )
                )
            ).all()
        return list(rows) or None

    await eventually(paged, "the owning supervisor paged")
    mails = [m for m in smtp_sink.messages if m["To"] == f"supervisor@{program.program.slug}.test"]
    assert mails
    assert incident_id in mails[-1].get_content()
    assert REASON not in mails[-1].get_content()  # the free text stays behind the login

    # 59 minutes on it still reads; at 61 it is another program's incident again.
    clock_at(app, granted_at + timedelta(minutes=59))
    assert (await stack.http.get(detail, headers=theirs)).status_code == 200
    clock_at(app, granted_at + timedelta(minutes=61))
    after = await stack.http.get(detail, headers=theirs)
    assert (
        after.content
        == (await stack.http.get(f"/v1/incidents/{uuid.uuid4()}", headers=theirs)).content
    )
    assert_problem(await stack.http.get(history, headers=theirs), 404)
    app.dependency_overrides.clear()


async def test_break_glass_needs_a_reason_another_program_and_a_supervisor(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_program(sessions, "other")
    incident_id = await opened_and_projected(stack, program, sessions)
    glass = f"/v1/incidents/{incident_id}/break-glass"
    post: Callable[..., Any] = stack.http.post

    for body in ({}, {"reason": ""}, {"reason": None}):
        assert_invalid(await post(glass, json=body, headers=other.auth(Role.SUPERVISOR)), "reason")
    own = await post(glass, json={"reason": REASON}, headers=program.auth(Role.SUPERVISOR))
    problem = assert_problem(own, 409)
    assert problem["code"] == "break_glass_not_needed"
    for role in (Role.CLINICIAN, Role.FOLLOWUP, Role.ADMIN):
        for who in (other, program):
            refused = await post(glass, json={"reason": REASON}, headers=who.auth(role))
            assert str(role) in str(assert_problem(refused, 403)["detail"])
    missing = await post(
        f"/v1/incidents/{uuid.uuid4()}/break-glass",
        json={"reason": REASON},
        headers=other.auth(Role.SUPERVISOR),
    )
    assert_problem(missing, 404)
    assert_problem(await post(glass, json={"reason": REASON}), 401)

    async with sessions() as session:
        audited = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "break_glass"))
        ).all()
    assert audited == []
    read = await stack.http.get(f"/v1/incidents/{incident_id}", headers=other.auth(Role.SUPERVISOR))
    assert_problem(read, 404)
