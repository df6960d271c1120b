"""Follow-up tasks: the program's queue, read from the projection; claim and complete through the
incident's follow-up workflow, which answers the task's new state or refuses and changes nothing.

A task shows what a follow-up call needs (the client's first name, callback number and safety
plan), never the incident's summary or clinical notes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, func, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep, TemporalDep, audit_read, require
from api.problems import Problem, answered_in_time, not_found, refusal_problem
from domain.followup import ClaimTask, CompleteTask, FollowUpResult, TaskState, followup_workflow_id
from domain.models import Client as ClientRecord
from domain.models import FollowUpTask, Incident, Staff
from domain.models.json_types import DateTimeQuery
from domain.models.text import NulFreeText
from domain.vocabulary import FollowUpOutcome, Role, TaskStatus
from workflows.followup import FollowUpWorkflow

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

UPDATE_TIMEOUT = timedelta(seconds=15)

FollowUpWorker = Annotated[Staff, Depends(require(Role.FOLLOWUP))]
FollowUpOrSupervisor = Annotated[Staff, Depends(require(Role.FOLLOWUP, Role.SUPERVISOR))]


class TaskView(BaseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    sequence: int
    due_at: datetime
    status: TaskStatus
    assignee: uuid.UUID | None
    outcome: FollowUpOutcome | None
    client_first_name: str
    callback_number: str | None
    safety_plan: dict[str, Any] | None
    updated_at: datetime


class TaskList(BaseModel):
    data: list[TaskView]
    count: int


class TaskCompletion(NulFreeText):
    model_config = ConfigDict(extra="forbid")

    outcome: FollowUpOutcome
    notes: str | None = Field(default=None, max_length=4000)


@dataclass(frozen=True)
class _Listed:
    """A task row with the two client facts a follow-up call needs."""

    task: FollowUpTask
    first_name: str
    phone: str | None


def _view(listed: _Listed, state: TaskState | None = None) -> TaskView:
    row = listed.task
    return TaskView(
        id=row.id,
        incident_id=row.incident_id,
        sequence=row.sequence,
        due_at=state.due_at if state else row.due_at,
        status=state.status if state else TaskStatus(row.status),
        assignee=state.assignee_id if state else row.assignee_id,
        outcome=(state.outcome if state else FollowUpOutcome(row.outcome) if row.outcome else None),
        client_first_name=listed.first_name,
        callback_number=listed.phone,
        safety_plan=row.safety_plan,
        updated_at=state.updated_at if state else row.updated_at,
    )


# A task row with the two client facts a follow-up call needs (and nothing else of the incident).
_TASK_WITH_CLIENT = (
    select(FollowUpTask, ClientRecord.first_name, ClientRecord.phone)
    .join(Incident, col(Incident.id) == col(FollowUpTask.incident_id))
    .join(ClientRecord, col(ClientRecord.id) == col(Incident.client_id))
)


@router.get("")
async def list_tasks(
    staff: FollowUpOrSupervisor,
    session: SessionDep,
    status: TaskStatus | None = None,
    due_before: DateTimeQuery | None = None,
    assignee: Annotated[uuid.UUID | Literal["me"] | None, Query()] = None,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> TaskList:
    """The program's follow-up tasks, soonest due first, from the task projection.

    Filter by `status`, `due_before` (a time with its zone) and `assignee` (`me` or a staff id).
    """
    filters = [col(FollowUpTask.program_id) == staff.program_id]
    if status is not None:
        filters.append(col(FollowUpTask.status) == status)
    if due_before is not None:
        filters.append(col(FollowUpTask.due_at) < due_before)
    if assignee is not None:
        filters.append(
            col(FollowUpTask.assignee_id) == (staff.id if assignee == "me" else assignee)
        )
    rows = (
        await session.exec(
            _TASK_WITH_CLIENT.where(*filters)
            .order_by(col(FollowUpTask.due_at), col(FollowUpTask.sequence), col(FollowUpTask.id))
            .offset(offset)
            .limit(limit)
        )
    ).all()
    count = (
        await session.exec(select(func.count()).select_from(FollowUpTask).where(*filters))
    ).one()
    listed = TaskList(
        data=[
            _view(_Listed(task=task, first_name=first, phone=phone)) for task, first, phone in rows
        ],
        count=count,
    )
    if rows:  # the list shows safety plans: reading them is an audited access
        ids = [str(t.id) for t in listed.data]
        await audit_read(session, staff, "tasks.read", detail={"task_ids": ids})
    return listed


@router.post(
    "/{task_id}/claim",
    responses={409: {"description": "already claimed or settled"}},
)
async def claim_task(
    task_id: uuid.UUID, staff: FollowUpWorker, session: SessionDep, temporal: TemporalDep
) -> TaskView:
    """Claim a requested task: it becomes `accepted` with you as its assignee."""
    listed = await _listed(session, task_id, staff.program_id)
    request = ClaimTask(task_id=task_id, staff_id=staff.id, role=Role(staff.role))
    handle = _handle(temporal, listed.task.incident_id)
    state = await _answer(
        handle.execute_update(FollowUpWorkflow.claim_task, request, rpc_timeout=UPDATE_TIMEOUT),
        listed.task,
    )
    view = _view(listed, state)
    await _audit_task_read(session, staff, listed.task)
    return view


@router.post(
    "/{task_id}/complete",
    responses={
        409: {"description": "not yours, not claimed, or settled"},
        422: {"description": "wrong body"},
    },
)
async def complete_task(
    task_id: uuid.UUID,
    body: TaskCompletion,
    staff: FollowUpOrSupervisor,
    session: SessionDep,
    temporal: TemporalDep,
) -> TaskView:
    """Record the outcome of a task you claimed (a supervisor may record any open task's).

    `no_answer` makes the task `failed` (it could not be done); the other outcomes `completed`.
    """
    listed = await _listed(session, task_id, staff.program_id)
    request = CompleteTask(
        task_id=task_id,
        staff_id=staff.id,
        role=Role(staff.role),
        outcome=body.outcome,
        notes=body.notes,
    )
    handle = _handle(temporal, listed.task.incident_id)
    state = await _answer(
        handle.execute_update(FollowUpWorkflow.complete_task, request, rpc_timeout=UPDATE_TIMEOUT),
        listed.task,
    )
    view = _view(listed, state)
    await _audit_task_read(session, staff, listed.task)
    return view


async def _audit_task_read(session: SessionDep, staff: Staff, task: FollowUpTask) -> None:
    """The answer shows the task's safety plan and callback number: an audited read (made after
    the answer is built: a retried audit append rolls back, which expires the rows read)."""
    incident_id, task_ids = task.incident_id, [str(task.id)]
    await audit_read(
        session, staff, "tasks.read", incident_id=incident_id, detail={"task_ids": task_ids}
    )


def _handle(
    temporal: Client, incident_id: uuid.UUID
) -> WorkflowHandle[FollowUpWorkflow, FollowUpResult]:
    return temporal.get_workflow_handle_for(FollowUpWorkflow.run, followup_workflow_id(incident_id))


async def _listed(session: SessionDep, task_id: uuid.UUID, program_id: uuid.UUID) -> _Listed:
    """The task of the caller's program (another program's task is not found)."""
    found = (
        await session.exec(
            _TASK_WITH_CLIENT.where(col(FollowUpTask.id) == task_id).where(
                col(FollowUpTask.program_id) == program_id
            )
        )
    ).first()
    if found is None:
        raise not_found("task")
    task, first_name, phone = found
    return _Listed(task=task, first_name=first_name, phone=phone)


async def _answer(update: Awaitable[TaskState], task: FollowUpTask) -> TaskState:
    try:
        return await answered_in_time(update)
    except WorkflowUpdateFailedError as error:
        raise refusal_problem(error) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise Problem(
                409,
                "Conflict",
                f"the follow-up has ended: the task is {task.status}",
                code="task_settled",
                task_status=task.status,
            ) from None
        raise
