"""Follow-up after a disposition, as plain data and pure rules.

The follow-up workflow holds one `TaskState` per scheduled contact (FHIR Task-like status), asks
`claim_refusal()` / `completion_refusal()` whether a request may be made and `claim()` /
`complete()` to make it, and `due_alarms()` / `next_alarm_at()` when to remind and escalate.
Nothing here touches a clock or I/O: time is passed in.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from domain.audit import AuditEntry
from domain.signed import SignedMessage
from domain.vocabulary import FollowUpOutcome, RiskLevel, Role, TaskStatus, with_article

_TASK_NAMESPACE = uuid.UUID("1d0f6c55-3b7e-4f0a-9a43-5f2d8e61c7b9")

PARENT_NEEDS_CARE_SIGNAL = "followup_needs_care"
PARENT_WELFARE_CHECK_SIGNAL = "followup_welfare_check"
PARENT_FINISHED_SIGNAL = "followup_finished"

SETTLED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
CLAIMED = frozenset({TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS})

# The FHIR Task transitions a follow-up task may take; anything else is refused.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.REQUESTED: frozenset(
        # completed/failed straight from requested: a supervisor who made the call themself
        {TaskStatus.ACCEPTED, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.ACCEPTED: frozenset(
        {TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.IN_PROGRESS: frozenset(
        {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}

CLAIM_ROLES = frozenset({Role.FOLLOWUP})
COMPLETE_ROLES = frozenset({Role.FOLLOWUP, Role.SUPERVISOR})


def followup_workflow_id(incident_id: UUID) -> str:
    return f"incident-{incident_id}-followup"


def task_id_for(incident_id: UUID, sequence: int) -> UUID:
    """Deterministic, so a replayed or retried start never makes a second set of tasks."""
    return uuid.uuid5(_TASK_NAMESPACE, f"{incident_id}:{sequence}")


class FollowUpPlan(SignedMessage):
    """The workflow's start input: whom to follow up, on which schedule, with which safety plan."""

    incident_id: UUID
    program_id: UUID
    client_id: UUID
    owner_id: UUID
    risk_level: RiskLevel | None = None
    # Offsets from `starts_at`, one task each (the protocol's `followup_schedule`).
    schedule: list[timedelta] = Field(min_length=1)
    # How long past its due time an unsettled task waits before the supervisor is paged.
    grace: timedelta
    safety_plan: dict[str, Any] | None = None
    starts_at: datetime
    # This many `no_answer` outcomes in a row call for a welfare check.
    welfare_check_after_no_answers: int = Field(default=2, ge=1)


class TaskState(BaseModel):
    task_id: UUID
    incident_id: UUID
    program_id: UUID
    sequence: int
    due_at: datetime
    status: TaskStatus = TaskStatus.REQUESTED
    assignee_id: UUID | None = None
    outcome: FollowUpOutcome | None = None
    notes: str | None = None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None

    @property
    def is_settled(self) -> bool:
        return self.status in SETTLED


class ClaimTask(SignedMessage):
    task_id: UUID
    staff_id: UUID
    role: Role


class CompleteTask(SignedMessage):
    task_id: UUID
    staff_id: UUID
    role: Role
    outcome: FollowUpOutcome
    notes: str | None = Field(default=None, max_length=4000)


class CancelFollowUp(SignedMessage):
    """The incident ended (a supervisor closed it): open tasks are cancelled."""

    reason: str = Field(max_length=500)
    # The incident whose follow-up this is: a cancel naming another one is ignored.
    incident_id: UUID | None = None
    actor_id: str = "system"
    actor_role: str = "system"


class FollowUpNeedsCare(SignedMessage):
    """Sent to the incident: a follow-up reached the client, who needs clinical care again."""

    task_id: UUID
    reason: str
    # The incident it is about: news naming another incident is ignored there.
    incident_id: UUID | None = None


class FollowUpWelfareCheck(SignedMessage):
    """Sent to the incident: the client did not answer this many follow-ups in a row."""

    task_ids: list[UUID]
    reason: str
    incident_id: UUID | None = None


class FollowUpResult(SignedMessage):
    incident_id: UUID
    tasks: list[TaskState]
    needs_care: list[FollowUpNeedsCare] = Field(default_factory=list)
    welfare_checks: list[FollowUpWelfareCheck] = Field(default_factory=list)
    cancelled_reason: str | None = None


class TaskProjection(BaseModel):
    """Write these tasks' rows (insert or update by task id) and their audit events."""

    incident_id: UUID
    program_id: UUID
    safety_plan: dict[str, Any] | None = None
    tasks: list[TaskState]
    audit: list[AuditEntry] = Field(default_factory=list)


class TaskRefusal(BaseModel):
    """Why a task request is refused; the same shape as the incident's decision refusals."""

    status: int
    code: str
    detail: str
    field: str | None = None
    task_status: TaskStatus | None = None


class AlarmKind(StrEnum):
    REMINDER = "reminder"
    ESCALATION = "escalation"


class TaskAlarm(BaseModel):
    """A reminder (to the assignee, or the queue when unclaimed), or an escalation."""

    task_id: UUID
    kind: AlarmKind
    assignee_id: UUID | None = None
    sequence: int


def initial_tasks(plan: FollowUpPlan) -> list[TaskState]:
    return [
        TaskState(
            task_id=task_id_for(plan.incident_id, sequence),
            incident_id=plan.incident_id,
            program_id=plan.program_id,
            sequence=sequence,
            due_at=plan.starts_at + offset,
            created_at=plan.starts_at,
            updated_at=plan.starts_at,
        )
        for sequence, offset in enumerate(plan.schedule, start=1)
    ]


def status_after(outcome: FollowUpOutcome) -> TaskStatus:
    # FHIR Task `failed`: the task could not be done. An unanswered call is exactly that; a
    # client who declined was still reached, so that task is done.
    if outcome is FollowUpOutcome.NO_ANSWER:
        return TaskStatus.FAILED
    return TaskStatus.COMPLETED


def _settled_refusal(task: TaskState) -> TaskRefusal:
    return TaskRefusal(
        status=409,
        code="task_settled",
        detail=f"the task is already {task.status}",
        task_status=task.status,
    )


def claim_refusal(task: TaskState | None, request: ClaimTask) -> TaskRefusal | None:
    """Why this claim cannot be made now, or None when it can."""
    if task is None:
        return TaskRefusal(status=404, code="not_found", detail="no such task", field="task_id")
    if request.role not in CLAIM_ROLES:
        return TaskRefusal(
            status=403,
            code="forbidden_role",
            detail=f"{with_article(request.role)} may not claim tasks",
        )
    if task.status in CLAIMED:
        mine = task.assignee_id == request.staff_id
        return TaskRefusal(
            status=409,
            code="already_claimed",
            detail="you already claimed this task" if mine else "someone else claimed this task",
            task_status=task.status,
        )
    if TaskStatus.ACCEPTED not in TRANSITIONS[task.status]:
        return _settled_refusal(task)
    return None


def completion_refusal(task: TaskState | None, request: CompleteTask) -> TaskRefusal | None:
    """Why this completion cannot be recorded now, or None when it can."""
    if task is None:
        return TaskRefusal(status=404, code="not_found", detail="no such task", field="task_id")
    if request.role not in COMPLETE_ROLES:
        return TaskRefusal(
            status=403,
            code="forbidden_role",
            detail=f"{with_article(request.role)} may not complete tasks",
        )
    if status_after(request.outcome) not in TRANSITIONS[task.status]:
        return _settled_refusal(task)
    if request.role is Role.SUPERVISOR:
        return None
    if task.assignee_id is None:
        return TaskRefusal(
            status=409,
            code="not_claimed",
            detail="claim the task before completing it",
            task_status=task.status,
        )
    if task.assignee_id != request.staff_id:
        return TaskRefusal(
            status=409,
            code="not_assignee",
            detail="only the staff member who claimed the task (or a supervisor) may complete it",
            task_status=task.status,
        )
    return None


def claim(task: TaskState, request: ClaimTask, now: datetime) -> TaskState:
    return task.model_copy(
        update={"status": TaskStatus.ACCEPTED, "assignee_id": request.staff_id, "updated_at": now}
    )


def complete(task: TaskState, request: CompleteTask, now: datetime) -> TaskState:
    return task.model_copy(
        update={
            "status": status_after(request.outcome),
            "assignee_id": task.assignee_id or request.staff_id,
            "outcome": request.outcome,
            "notes": request.notes,
            "updated_at": now,
            "settled_at": now,
        }
    )


def cancel(task: TaskState, now: datetime) -> TaskState:
    if TaskStatus.CANCELLED not in TRANSITIONS[task.status]:
        return task
    return task.model_copy(
        update={"status": TaskStatus.CANCELLED, "updated_at": now, "settled_at": now}
    )


def task_audit(task: TaskState, *, actor_id: str, actor_role: str) -> AuditEntry:
    """The audit event of a task's change to its current status (never the worker's notes)."""
    detail: dict[str, Any] = {"task_id": str(task.task_id), "sequence": task.sequence}
    if task.outcome is not None:
        detail["outcome"] = task.outcome
    return AuditEntry(
        event_key=f"task:{task.task_id}:{task.status}",
        program_id=task.program_id,
        action=f"task.{task.status}",
        actor_id=actor_id,
        actor_role=actor_role,
        at=task.updated_at,
        incident_id=task.incident_id,
        detail=detail,
    )


def no_answer_streak(tasks: list[TaskState]) -> list[UUID]:
    """The tasks of the latest unbroken run of `no_answer` outcomes, in the order recorded."""
    answered = sorted(
        (t for t in tasks if t.outcome is not None and t.settled_at is not None),
        key=lambda t: (t.settled_at, t.sequence),
    )
    streak: list[UUID] = []
    for task in answered:
        streak = [*streak, task.task_id] if task.outcome is FollowUpOutcome.NO_ANSWER else []
    return streak


def _alarm_moments(task: TaskState, grace: timedelta) -> list[tuple[datetime, AlarmKind]]:
    if task.is_settled:
        return []
    moments: list[tuple[datetime, AlarmKind]] = []
    if task.reminded_at is None:
        moments.append((task.due_at, AlarmKind.REMINDER))
    if task.escalated_at is None:
        moments.append((task.due_at + grace, AlarmKind.ESCALATION))
    return moments


def next_alarm_at(tasks: list[TaskState], grace: timedelta) -> datetime | None:
    """When the next reminder or escalation falls due, or None when none is left."""
    moments = [at for task in tasks for at, _ in _alarm_moments(task, grace)]
    return min(moments, default=None)


def due_alarms(
    tasks: list[TaskState], grace: timedelta, now: datetime
) -> tuple[list[TaskState], list[TaskAlarm]]:
    """Mark every reminder and escalation due by `now` as sent (each at most once per task)."""
    updated: list[TaskState] = []
    alarms: list[TaskAlarm] = []
    for task in tasks:
        changes: dict[str, Any] = {}
        for at, kind in _alarm_moments(task, grace):
            if at > now:
                continue
            changes["reminded_at" if kind is AlarmKind.REMINDER else "escalated_at"] = now
            alarms.append(
                TaskAlarm(
                    task_id=task.task_id,
                    kind=kind,
                    assignee_id=task.assignee_id,
                    sequence=task.sequence,
                )
            )
        updated.append(task.model_copy(update=changes) if changes else task)
    return updated, alarms
