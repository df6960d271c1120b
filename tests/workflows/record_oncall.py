"""The on-call handoff scenario of the history recorder (tests/workflows/record_histories.py).

A rotation of three clinicians on 12 h shifts is created through the API's route function (so
the watch starts as the product starts it, signed by the recorder's client) in the third
clinician's shift, who is paged at its creation; two handoffs pass, then a supervisor's
override (through its route function too) sends `schedule_changed` and the covering
clinician, then the returning one, are paged. The watch never ends by itself: the
history is taken while it waits for its next handoff, which replay handles as an open history.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.routes.oncall import create_override, create_rotation, handoff_watch_id
from api.runtime import Runtime
from domain.models import Staff
from domain.models.oncall import OverrideCreate, RotationCreate
from domain.models.programs import StaffCreate
from domain.vocabulary import Role
from infra.db import transaction
from infra.records import create_staff
from infra.settings import Settings
from tests.helpers.programs import DemoProgram
from workflows.oncall import OnCallHandoffWorkflow

SHIFT_HOURS = 12
SHIFT = timedelta(hours=SHIFT_HOURS)
MINUTE = timedelta(minutes=1)
SETTLE_POLLS = 200
WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


async def record_oncall(
    client: Client,
    env: WorkflowEnvironment,
    program: DemoProgram,
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> str:
    """Walk the rotation through its handoffs and an override; the watch's history as JSON."""
    runtime = Runtime(settings=settings, engine=engine, sessions=sessions, temporal=client)
    first = program.staff[Role.CLINICIAN]
    second = await _add_clinician(sessions, program, "second")
    third = await _add_clinician(sessions, program, "third")
    # Three shifts less an hour ago: the third clinician is on call from the creation on.
    start = (await env.get_current_time()).replace(microsecond=0) + timedelta(hours=1) - 3 * SHIFT
    async with sessions() as session:
        rotation = await create_rotation(
            RotationCreate(
                name="Nights and days",
                role=Role.CLINICIAN,
                members=[first.id, second.id, third.id],
                shift_hours=SHIFT_HOURS,
                first_handoff=start,
                time_zone="America/Los_Angeles",
            ),
            program.staff[Role.ADMIN],
            session,
            client,
            runtime,
        )
    handle = client.get_workflow_handle_for(
        OnCallHandoffWorkflow.run, handoff_watch_id(rotation.id)
    )
    await env.sleep(timedelta(hours=1) + MINUTE)  # a handoff: the first clinician
    await env.sleep(SHIFT)  # another: the second clinician
    now = await env.get_current_time()
    async with sessions() as session:  # the third covers two hours from an hour from now
        await create_override(
            OverrideCreate(
                staff_id=third.id,
                starts_at=now + timedelta(hours=1),
                ends_at=now + timedelta(hours=3),
                reason="second clinician at a training",
            ),
            program.staff[Role.SUPERVISOR],
            session,
            runtime,
        )
    await env.sleep(timedelta(hours=1) + MINUTE)  # the third clinician is paged
    await env.sleep(timedelta(hours=2))  # the override ends: the second is paged again
    return await _settled_history(handle)


async def _add_clinician(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, name: str
) -> Staff:
    async with transaction(sessions) as session:
        member, _ = await create_staff(
            session,
            program_id=program.program.id,
            data=StaffCreate(
                name=f"{name} clinician", role=Role.CLINICIAN, email=f"{name}@demo.test"
            ),
        )
    return member


async def _settled_history(handle: WorkflowHandle[OnCallHandoffWorkflow, None]) -> str:
    """The history once the watch waits on its timer: no activity pending, and its last
    workflow task completed (only that task's commands after it), so the open history replays
    to the same commands."""
    for _ in range(SETTLE_POLLS):
        description = await handle.describe()
        history = await handle.fetch_history()
        tasks = [e.event_type for e in history.events if e.event_type in WORKFLOW_TASK_EVENTS]
        idle = not description.raw_description.pending_activities
        if idle and tasks[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return history.to_json()
        await asyncio.sleep(0.05)
    raise RuntimeError("the handoff watch did not settle on its timer")
