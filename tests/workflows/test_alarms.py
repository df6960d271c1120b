"""The protocol's timers page when nobody acts, and stay quiet when someone does.

Run on the time-skipping server: `ts_env.sleep` moves the server's clock, no wall-clock waits.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.models import Notification
from domain.models.programs import StaffCreate
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from infra.db import transaction
from infra.records import create_staff
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE, DISPATCH_911, OVERDOSE_IMMINENT

SUICIDAL = protocol_for(CrisisType.SUICIDAL_IDEATION)
OVERDOSE = protocol_for(CrisisType.OVERDOSE)
# SPEC 10.1: a repeated alarm backs off 5, 10, 20, 40 minutes, then hourly.
BACKOFF = [timedelta(minutes=m) for m in (5, 10, 20, 40)]
REPEAT = BACKOFF[0]


@pytest_asyncio.fixture(loop_scope="session")
async def stack(reachable_stack: Stack) -> Stack:
    """Pages here must reach the staff they name (by email at a local SMTP sink)."""
    return reachable_stack


async def pages_after(
    stack: Stack, program: DemoProgram, incident_id: str, count: int
) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        pages: list[dict[str, Any]] = (await detail(stack, program, incident_id))["pages"]
        return pages if len(pages) >= count else None

    return await eventually(enough, f"{count} pages")


async def page_rows(sessions: async_sessionmaker[AsyncSession]) -> list[Notification]:
    async with sessions() as session:
        found = await session.exec(select(Notification).where(Notification.purpose == "page"))
        return list(found.all())


async def test_no_assessment_pages_on_call_supervisor_until_someone_assesses(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        backup, _ = await create_staff(
            session,
            program_id=program.program.id,
            data=StaffCreate(
                name="Backup supervisor", role=Role.SUPERVISOR, email="backup@demo.test"
            ),
        )
    on_call = str(program.staff[Role.SUPERVISOR].id)
    incident = await open_incident(stack, program, "suicidal_ideation")
    assert [t["name"] for t in incident["pending_timers"]] == ["assessment_overdue"]

    await ts_env.sleep(SUICIDAL.assessment_window - timedelta(seconds=30))
    assert (await detail(stack, program, incident["id"]))["pages"] == []

    await ts_env.sleep(timedelta(seconds=45))
    first = await pages_after(stack, program, incident["id"], 1)
    assert first[0]["recipients"] == [on_call]
    assert first[0]["reason"] == "no assessment within the protocol's window"

    # Still nobody acts: the policy pages again 5 then 10 minutes later, widening to every
    # supervisor at the third page.
    await ts_env.sleep(BACKOFF[0] - timedelta(seconds=30))
    assert len((await detail(stack, program, incident["id"]))["pages"]) == 1
    await ts_env.sleep(timedelta(seconds=31))
    await pages_after(stack, program, incident["id"], 2)
    await ts_env.sleep(BACKOFF[1])
    pages = await pages_after(stack, program, incident["id"], 3)
    assert pages[1]["recipients"] == [on_call]
    assert set(pages[2]["recipients"]) == {on_call, str(backup.id)}
    assert len(await page_rows(sessions)) == 4  # 1 + 1 + 2 recipients

    await decide(stack, program, incident["id"], CSSRS_MODERATE)
    await ts_env.sleep(REPEAT * 6)
    after = await detail(stack, program, incident["id"])
    assert len(after["pages"]) == 3
    assert after["pending_timers"] == []


async def test_assessment_in_time_never_pages(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    incident = await open_incident(stack, program, "suicidal_ideation")
    await ts_env.sleep(SUICIDAL.assessment_window / 2)
    await decide(stack, program, incident["id"], CSSRS_MODERATE)
    await ts_env.sleep(SUICIDAL.assessment_window * 10)
    state = await detail(stack, program, incident["id"])
    assert state["pages"] == []
    assert state["pending_timers"] == []
    assert await page_rows(sessions) == []


async def test_imminent_risk_without_dispatch_pages(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await open_incident(stack, program, "overdose")
    state = await decide(stack, program, incident["id"], OVERDOSE_IMMINENT)
    assert state["risk_level"] == "imminent"
    assert state["required_steps"] == ["dispatch"]
    assert [t["name"] for t in state["pending_timers"]] == ["dispatch_overdue"]

    await ts_env.sleep(OVERDOSE.dispatch_window + timedelta(seconds=5))
    pages = await pages_after(stack, program, incident["id"], 1)
    assert pages[0]["reason"] == "dispatch required and not started"

    await decide(stack, program, incident["id"], DISPATCH_911)
    # Past several repeats of the policy, short of the 911 response's own confirm window.
    await ts_env.sleep(OVERDOSE.dispatch_confirm_window - timedelta(seconds=30))
    state = await detail(stack, program, incident["id"])
    assert len(state["pages"]) == 1
    assert [t["name"] for t in state["pending_timers"]] == ["dispatch_unconfirmed"]

    await ts_env.sleep(timedelta(minutes=1))
    pages = await pages_after(stack, program, incident["id"], 2)
    assert pages[1]["reason"] == "911 response not confirmed en route; call the PSAP back"


async def test_dispatch_in_time_never_pages(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await open_incident(stack, program, "overdose")
    await decide(stack, program, incident["id"], OVERDOSE_IMMINENT)
    await ts_env.sleep(OVERDOSE.dispatch_window / 2)
    state = await decide(stack, program, incident["id"], DISPATCH_911)
    dispatch_id = state["dispatches"][0]["dispatch_id"]
    await decide(
        stack,
        program,
        incident["id"],
        {"kind": "dispatch_update", "dispatch_id": dispatch_id, "status": "en_route"},
    )
    await ts_env.sleep(OVERDOSE.dispatch_confirm_window * 3)
    assert (await detail(stack, program, incident["id"]))["pages"] == []


async def test_failed_deescalation_at_high_risk_requires_dispatch(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await open_incident(stack, program, "suicidal_ideation")
    high = {**CSSRS_MODERATE, "answers": {**CSSRS_MODERATE["answers"], "plan": True}}
    state = await decide(stack, program, incident["id"], high)
    assert state["risk_level"] == "high"
    assert state["required_steps"] == []
    state = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "deescalation", "techniques": ["safety-plan review"], "outcome": "failed"},
    )
    assert state["required_steps"] == ["dispatch"]
    await ts_env.sleep(SUICIDAL.dispatch_window + timedelta(seconds=5))
    pages = await pages_after(stack, program, incident["id"], 1)
    assert pages[0]["reason"] == "dispatch required and not started"


async def test_escalate_pages_the_supervisor_at_once(stack: Stack, program: DemoProgram) -> None:
    incident = await open_incident(stack, program, "panic")
    await decide(
        stack, program, incident["id"], {"kind": "escalate", "reason": "Needs a second opinion"}
    )
    pages = await pages_after(stack, program, incident["id"], 1)
    assert pages[0]["recipients"] == [str(program.staff[Role.SUPERVISOR].id)]
