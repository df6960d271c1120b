"""Follow-up tasks on durable timers: created on schedule, worked through the API, reminding
and escalating when nobody acts, and telling the incident what needs clinical work.

Run on the time-skipping server: `ts_env.sleep` moves the server's clock, no wall-clock waits.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from domain.followup import (
    CancelFollowUp,
    FollowUpNeedsCare,
    FollowUpPlan,
    FollowUpResult,
    FollowUpWelfareCheck,
    followup_workflow_id,
    task_id_for,
)
from domain.models import AuditEvent, Notification, Staff
from domain.models.programs import StaffCreate
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, FollowUpOutcome, Role, TaskStatus
from infra.db import transaction
from infra.records import create_staff
from tests.helpers.followup import projected, start_followup, task_rows, work
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import SAFETY_PLAN
from workflows.followup import FollowUpWorkflow

PROTOCOL = protocol_for(CrisisType.SUICIDAL_IDEATION)
GRACE = PROTOCOL.followup_grace


@pytest_asyncio.fixture(loop_scope="session")
async def stack(reachable_stack: Stack) -> Stack:
    """Pages here must reach the staff they name (by email at a local SMTP sink)."""
    return reachable_stack


async def pages_for(
    sessions: async_sessionmaker[AsyncSession], task_id: uuid.UUID, kind: str
) -> list[Notification]:
    """Page rows of one task's reminder or escalation (their keys name the task)."""
    async with sessions() as session:
        found = await session.exec(
            select(Notification)
            .where(Notification.purpose == "page")
            .where(col(Notification.idempotency_key).contains(f"followup-{task_id}-{kind}"))
        )
        return list(found.all())


async def paged(
    sessions: async_sessionmaker[AsyncSession], task_id: uuid.UUID, kind: str
) -> list[Notification]:
    async def some() -> list[Notification] | None:
        return await pages_for(sessions, task_id, kind) or None

    return await eventually(some, f"a {kind} page for task {task_id}")


async def claim_and_complete(
    stack: Stack, program: DemoProgram, task_id: uuid.UUID, outcome: FollowUpOutcome
) -> dict[str, Any]:
    claimed = await work(stack, program, task_id, "claim")
    assert claimed["http_status"] == 200, claimed
    done = await work(stack, program, task_id, "complete", outcome=outcome, notes="Spoke at 10am")
    assert done["http_status"] == 200, done
    return done


async def add_followup_staff(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, name: str
) -> tuple[Staff, dict[str, str]]:
    async with transaction(sessions) as session:
        member, token = await create_staff(
            session,
            program_id=program.program.id,
            data=StaffCreate(name=name, role=Role.FOLLOWUP),
        )
    return member, {"Authorization": f"Bearer {token}"}


# --- creation ---------------------------------------------------------------------------


async def test_disposition_schedule_creates_requested_tasks_due_24h_72h_7d_30d(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle, plan = await start_followup(stack, program, sessions)

    rows = await projected(sessions, plan.incident_id)

    offsets = [timedelta(hours=24), timedelta(hours=72), timedelta(days=7), timedelta(days=30)]
    assert [r.due_at - plan.starts_at for r in rows] == offsets
    assert [r.id for r in rows] == [task_id_for(plan.incident_id, n) for n in (1, 2, 3, 4)]
    assert {r.status for r in rows} == {TaskStatus.REQUESTED}
    assert {r.assignee_id for r in rows} == {None}
    assert all(r.safety_plan == SAFETY_PLAN for r in rows)
    live = await handle.query(FollowUpWorkflow.tasks)
    assert [(t.task_id, t.due_at, t.status) for t in live] == [
        (r.id, r.due_at, TaskStatus.REQUESTED) for r in rows
    ]


async def test_a_restarted_start_never_duplicates_tasks(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Task ids come from the incident and the sequence, so the projection is an upsert."""
    handle, plan = await start_followup(stack, program, sessions)
    closed = CancelFollowUp(reason="closed", incident_id=plan.incident_id)
    await handle.signal(FollowUpWorkflow.cancel_all, closed)
    await handle.result()

    again = await stack.client.start_workflow(
        FollowUpWorkflow.run,
        plan,
        id=followup_workflow_id(plan.incident_id),
        task_queue=stack.settings.task_queue,
    )
    await again.signal(FollowUpWorkflow.cancel_all, closed)
    await again.result()

    rows = await task_rows(sessions, plan.incident_id)
    assert len(rows) == 4
    assert {r.status for r in rows} == {TaskStatus.CANCELLED}


# --- timers ---------------------------------------------------------------------------


async def test_an_unclaimed_task_left_undone_reminds_the_queue_then_escalates(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    first = task_id_for(plan.incident_id, 1)

    await ts_env.sleep(timedelta(hours=24) - timedelta(minutes=1))
    assert await pages_for(sessions, first, "reminder") == []

    await ts_env.sleep(timedelta(minutes=2))
    reminders = await paged(sessions, first, "reminder")
    assert [p.recipient_id for p in reminders] == [str(program.staff[Role.FOLLOWUP].id)]
    assert await pages_for(sessions, first, "escalation") == []

    await ts_env.sleep(GRACE - timedelta(minutes=5))
    assert await pages_for(sessions, first, "escalation") == []

    await ts_env.sleep(timedelta(minutes=10))
    escalations = await paged(sessions, first, "escalation")
    assert [p.recipient_id for p in escalations] == [str(program.staff[Role.SUPERVISOR].id)]
    # Each once per task, however long it stays open.
    await ts_env.sleep(timedelta(hours=12))
    assert len(await pages_for(sessions, first, "reminder")) == 1
    assert len(await pages_for(sessions, first, "escalation")) == 1


async def test_a_claimed_task_reminds_its_assignee_not_the_queue(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_followup_staff(sessions, program, "Second follow-up worker")
    _, plan = await start_followup(stack, program, sessions)
    first = task_id_for(plan.incident_id, 1)
    claimed = await work(stack, program, first, "claim")
    assert claimed["http_status"] == 200, claimed

    await ts_env.sleep(timedelta(hours=24, minutes=1))

    reminders = await paged(sessions, first, "reminder")
    assert [p.recipient_id for p in reminders] == [str(program.staff[Role.FOLLOWUP].id)]


async def test_a_task_completed_on_time_causes_no_reminder(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    first, second = task_id_for(plan.incident_id, 1), task_id_for(plan.incident_id, 2)
    await ts_env.sleep(timedelta(hours=20))
    await claim_and_complete(stack, program, first, FollowUpOutcome.REACHED_SAFE)

    await ts_env.sleep(timedelta(hours=72) + GRACE)

    # The neglected second task shows the timers ran; the first, done on time, stayed quiet.
    await paged(sessions, second, "escalation")
    assert await pages_for(sessions, first, "reminder") == []
    assert await pages_for(sessions, first, "escalation") == []
    rows = await task_rows(sessions, plan.incident_id)
    assert (rows[0].status, rows[0].outcome) == (TaskStatus.COMPLETED, "reached_safe")


# --- working the tasks --------------------------------------------------------------------


async def test_the_workflow_ends_when_every_task_is_settled_and_records_outcomes(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle, plan = await start_followup(stack, program, sessions)
    ids = [task_id_for(plan.incident_id, n) for n in (1, 2, 3, 4)]
    outcomes = [
        FollowUpOutcome.REACHED_NEEDS_CARE,
        FollowUpOutcome.NO_ANSWER,
        FollowUpOutcome.NO_ANSWER,
        FollowUpOutcome.REACHED_SAFE,
    ]
    answers = [
        await claim_and_complete(stack, program, task_id, outcome)
        for task_id, outcome in zip(ids, outcomes, strict=True)
    ]
    assert [a["status"] for a in answers] == ["completed", "failed", "failed", "completed"]

    result = await handle.result()

    assert [t.status for t in result.tasks] == [
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.FAILED,
        TaskStatus.COMPLETED,
    ]
    assert [n.task_id for n in result.needs_care] == [ids[0]]
    assert [w.task_ids for w in result.welfare_checks] == [[ids[1], ids[2]]]
    assert "Spoke" not in result.needs_care[0].reason
    rows = await task_rows(sessions, plan.incident_id)
    assert [r.outcome for r in rows] == [str(o) for o in outcomes]
    assert {r.assignee_id for r in rows} == {program.staff[Role.FOLLOWUP].id}
    async with sessions() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.incident_id == plan.incident_id)
            )
        ).all()
    assert actions.count("task.accepted") == 4
    assert actions.count("task.failed") == 2


async def test_a_reach_between_no_answers_breaks_the_streak(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle, plan = await start_followup(stack, program, sessions)
    outcomes = [
        FollowUpOutcome.NO_ANSWER,
        FollowUpOutcome.REACHED_SAFE,
        FollowUpOutcome.NO_ANSWER,
        FollowUpOutcome.DECLINED,
    ]
    for sequence, outcome in enumerate(outcomes, start=1):
        await claim_and_complete(stack, program, task_id_for(plan.incident_id, sequence), outcome)

    result = await handle.result()

    assert result.welfare_checks == []
    assert result.needs_care == []
    assert result.tasks[3].status is TaskStatus.COMPLETED  # declined: reached, so done


async def test_claiming_twice_and_completing_someone_elses_task_are_refused(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, colleague_auth = await add_followup_staff(sessions, program, "Colleague")
    handle, plan = await start_followup(stack, program, sessions)
    first, second = task_id_for(plan.incident_id, 1), task_id_for(plan.incident_id, 2)

    not_claimed = await work(stack, program, second, "complete", outcome="reached_safe")
    assert (not_claimed["http_status"], not_claimed["code"]) == (409, "not_claimed")

    claimed = await work(stack, program, first, "claim")
    assert claimed["http_status"] == 200, claimed
    assert claimed["status"] == "accepted"
    assert claimed["assignee"] == str(program.staff[Role.FOLLOWUP].id)

    again = await work(stack, program, first, "claim", headers=colleague_auth)
    assert (again["http_status"], again["code"]) == (409, "already_claimed")
    assert again["detail"] == "someone else claimed this task"
    not_theirs = await work(
        stack, program, first, "complete", headers=colleague_auth, outcome="reached_safe"
    )
    assert (not_theirs["http_status"], not_theirs["code"]) == (409, "not_assignee")

    live = {t.task_id: t for t in await handle.query(FollowUpWorkflow.tasks)}
    assert live[first].assignee_id == program.staff[Role.FOLLOWUP].id
    assert live[first].outcome is None

    # A supervisor may record the outcome of a task someone else claimed.
    by_supervisor = await work(
        stack, program, first, "complete", role=Role.SUPERVISOR, outcome="no_answer"
    )
    assert by_supervisor["http_status"] == 200, by_supervisor
    assert by_supervisor["status"] == "failed"
    settled = await work(stack, program, first, "claim")
    assert (settled["http_status"], settled["code"]) == (409, "task_settled")


async def test_cancel_all_cancels_the_open_tasks_and_ends(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle, plan = await start_followup(stack, program, sessions)
    first = task_id_for(plan.incident_id, 1)
    await claim_and_complete(stack, program, first, FollowUpOutcome.REACHED_SAFE)

    await handle.signal(
        FollowUpWorkflow.cancel_all,
        CancelFollowUp(reason="closed by supervisor", incident_id=plan.incident_id),
    )
    result = await handle.result()

    assert [t.status for t in result.tasks] == [TaskStatus.COMPLETED] + 3 * [TaskStatus.CANCELLED]
    assert result.cancelled_reason == "closed by supervisor"
    rows = await task_rows(sessions, plan.incident_id)
    assert [r.status for r in rows] == ["completed"] + 3 * ["cancelled"]
    ended = await work(stack, program, task_id_for(plan.incident_id, 2), "claim")
    assert (ended["http_status"], ended["code"]) == (409, "task_settled")


async def test_a_cancelled_workflow_leaves_no_open_task_in_the_queue(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle, plan = await start_followup(stack, program, sessions)
    await claim_and_complete(
        stack, program, task_id_for(plan.incident_id, 1), FollowUpOutcome.REACHED_SAFE
    )

    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()

    assert isinstance(failure.value.cause, CancelledError)
    rows = await task_rows(sessions, plan.incident_id)
    assert [r.status for r in rows] == ["completed"] + 3 * ["cancelled"]


# --- the incident hears what needs clinical work --------------------------------------------


class ProbeInput(BaseModel):
    plan: FollowUpPlan
    followup_queue: str


class ProbeResult(BaseModel):
    followup: FollowUpResult
    needs_care: list[FollowUpNeedsCare]
    welfare_checks: list[FollowUpWelfareCheck]


@workflow.defn(name="FollowUpParentProbe")
class FollowUpParentProbe:
    """Stands in for the incident: starts the follow-up as its child and keeps its signals."""

    def __init__(self) -> None:
        self.needs_care: list[FollowUpNeedsCare] = []
        self.welfare_checks: list[FollowUpWelfareCheck] = []

    @workflow.run
    async def run(self, probe: ProbeInput) -> ProbeResult:
        followup = await workflow.execute_child_workflow(
            FollowUpWorkflow.run,
            probe.plan,
            id=followup_workflow_id(probe.plan.incident_id),
            task_queue=probe.followup_queue,
        )
        return ProbeResult(
            followup=followup, needs_care=self.needs_care, welfare_checks=self.welfare_checks
        )

    @workflow.signal(name="followup_needs_care")
    def followup_needs_care(self, signal: FollowUpNeedsCare) -> None:
        self.needs_care.append(signal)

    @workflow.signal(name="followup_welfare_check")
    def followup_welfare_check(self, signal: FollowUpWelfareCheck) -> None:
        self.welfare_checks.append(signal)


async def test_needs_care_and_repeated_no_answer_are_signalled_to_the_incident(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    incident = await open_incident(stack, program)
    await decide(stack, program, incident["id"], {"kind": "cancel", "reason": "entered in error"})
    incident_id = uuid.UUID(incident["id"])
    plan = FollowUpPlan(
        incident_id=incident_id,
        program_id=program.program.id,
        client_id=program.client.id,
        owner_id=program.staff[Role.CLINICIAN].id,
        schedule=list(PROTOCOL.followup_schedule),
        grace=GRACE,
        starts_at=await ts_env.get_current_time(),
    )
    probe_queue = f"probe-{uuid.uuid4()}"
    async with Worker(
        stack.client,
        task_queue=probe_queue,
        workflows=[FollowUpParentProbe],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        parent = await stack.client.start_workflow(
            FollowUpParentProbe.run,
            ProbeInput(plan=plan, followup_queue=stack.settings.task_queue),
            id=f"probe-{incident_id}",
            task_queue=probe_queue,
        )
        await projected(sessions, incident_id)
        ids = [task_id_for(incident_id, n) for n in (1, 2, 3, 4)]
        for task_id, outcome in zip(
            ids,
            [
                FollowUpOutcome.NO_ANSWER,
                FollowUpOutcome.NO_ANSWER,
                FollowUpOutcome.REACHED_NEEDS_CARE,
                FollowUpOutcome.REACHED_SAFE,
            ],
            strict=True,
        ):
            await claim_and_complete(stack, program, task_id, outcome)
        probed = await parent.result()

    assert [w.task_ids for w in probed.welfare_checks] == [ids[:2]]
    assert [n.task_id for n in probed.needs_care] == [ids[2]]
    assert probed.followup.welfare_checks == probed.welfare_checks
    assert probed.followup.needs_care == probed.needs_care
