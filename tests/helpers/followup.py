"""Follow-up tasks: walk a fresh incident to its follow-up, read its task rows, work a task through
the API."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from domain.followup import FollowUpPlan, FollowUpResult, followup_workflow_id
from domain.models import FollowUpTask
from domain.vocabulary import Role
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE, DEESCALATED, SAFETY_PLAN, disposition
from workflows.followup import FollowUpWorkflow

FollowUpHandle = WorkflowHandle[FollowUpWorkflow, FollowUpResult]


# A moderate-risk incident walked to follow-up through the API: judged, de-escalated, sent home
# with a safety plan (the disposition starts the follow-up on the protocol's schedule).
TO_FOLLOWUP: tuple[dict[str, Any], ...] = (
    {
        "kind": "assessment",
        "instrument": "clinical_judgement",
        "risk_override": "moderate",
        "justification": "Calmer, oriented, future-oriented talk",
    },
    {"kind": "deescalation", "techniques": ["grounding"], "outcome": "resolved"},
    {
        "kind": "disposition",
        "outcome": "remained_home_with_safety_plan",
        "safety_plan": SAFETY_PLAN,
    },
)


async def start_followup(
    stack: Stack,
    program: DemoProgram,
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[FollowUpHandle, FollowUpPlan]:
    """A follow-up as the product starts it: a fresh incident of the program walked through the
    API to a disposition with a safety plan (its workflow starts the follow-up on the protocol's
    schedule), once its tasks are in the database; with the plan the follow-up was started with."""
    incident = await open_incident(stack, program)
    for body in (CSSRS_MODERATE, DEESCALATED, disposition(with_safety_plan=True)):
        await decide(stack, program, incident["id"], body)
    incident_id = uuid.UUID(incident["id"])
    handle = stack.client.get_workflow_handle_for(
        FollowUpWorkflow.run, followup_workflow_id(incident_id)
    )

    async def started() -> FollowUpPlan | None:
        try:
            history = await handle.fetch_history()
        except RPCError:
            return None
        start = history.events[0].workflow_execution_started_event_attributes
        [plan] = await stack.client.data_converter.decode(start.input.payloads, [FollowUpPlan])
        return cast(FollowUpPlan, plan)

    plan = await eventually(started, "the follow-up workflow started")
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
