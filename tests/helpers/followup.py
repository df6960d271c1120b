"""Follow-up tasks: start a follow-up workflow for a fresh incident, read its task rows, work a task
through the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.followup import FollowUpPlan, FollowUpResult, followup_workflow_id
from domain.models import FollowUpTask
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, RiskLevel, Role
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import SAFETY_PLAN
from workflows.followup import FollowUpWorkflow

PROTOCOL = protocol_for(CrisisType.SUICIDAL_IDEATION)
FollowUpHandle = WorkflowHandle[FollowUpWorkflow, FollowUpResult]


async def start_followup(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    *,
    starts_at: datetime | None = None,
) -> tuple[FollowUpHandle, FollowUpPlan]:
    """A follow-up for a fresh incident of the program, on the protocol's default schedule,
    once its tasks are in the database."""
    incident = await open_incident(stack, program)
    # Only the incident row is needed (the tasks reference it): keep its own alarms quiet.
    await decide(stack, program, incident["id"], {"kind": "cancel", "reason": "entered in error"})
    plan = FollowUpPlan(
        incident_id=uuid.UUID(incident["id"]),
        program_id=program.program.id,
        client_id=program.client.id,
        owner_id=program.staff[Role.CLINICIAN].id,
        risk_level=RiskLevel.HIGH,
        schedule=list(PROTOCOL.followup_schedule),
        grace=PROTOCOL.followup_grace,
        safety_plan=SAFETY_PLAN,
        starts_at=starts_at or await ts_env.get_current_time(),
    )
    handle = await stack.client.start_workflow(
        FollowUpWorkflow.run,
        plan,
        id=followup_workflow_id(plan.incident_id),
        task_queue=stack.settings.task_queue,
    )
    await projected(sessions, plan.incident_id)
    return handle, plan


async def task_rows(
    sessions: async_sessionmaker[AsyncSession], incident_id: uuid.UUID
) -> list[FollowUpTask]:
    async with sessions() as session:
        found = await session.exec(
            select(FollowUpTask)
            .where(FollowUpTask.incident_id == incident_id)
            .order_by(col(FollowUpTask.sequence))
        )
        return list(found.all())


async def projected(
    sessions: async_sessionmaker[AsyncSession], incident_id: uuid.UUID, count: int = 4
) -> list[FollowUpTask]:
    async def all_there() -> list[FollowUpTask] | None:
        rows = await task_rows(sessions, incident_id)
        return rows if len(rows) == count else None

    return await eventually(all_there, f"{count} task rows")


async def work(
    stack: Stack,
    program: DemoProgram,
    task_id: uuid.UUID,
    action: str,
    role: Role = Role.FOLLOWUP,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    """Claim or complete a task through the API; answers the response body (any status)."""
    response = await stack.http.post(
        f"/v1/tasks/{task_id}/{action}",
        json=body or None,
        headers=headers or program.auth(role),
    )
    answer: dict[str, Any] = response.json()
    answer["http_status"] = response.status_code
    return answer
