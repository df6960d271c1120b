"""Follow-up tasks pinned to SPEC sections 1 and 5: the default schedule (24 h, 72 h, 7 and 30
days), who may claim and complete, FHIR Task-like statuses, reminders then escalation, and the
run of unanswered follow-ups that calls for a welfare check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.followup import (
    AlarmKind,
    ClaimTask,
    CompleteTask,
    FollowUpPlan,
    TaskState,
    cancel,
    claim,
    claim_refusal,
    complete,
    completion_refusal,
    due_alarms,
    followup_workflow_id,
    initial_tasks,
    next_alarm_at,
    no_answer_streak,
    task_audit,
    task_id_for,
)
from domain.vocabulary import FollowUpOutcome, Role, TaskStatus

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
INCIDENT = UUID("00000000-0000-4000-8000-0000000000c1")
PROGRAM = UUID("00000000-0000-4000-8000-00000000000a")
WORKER, OTHER_WORKER, SUPERVISOR = uuid4(), uuid4(), uuid4()
GRACE = timedelta(hours=4)
SPEC_SCHEDULE = [timedelta(hours=24), timedelta(hours=72), timedelta(days=7), timedelta(days=30)]


def tasks() -> list[TaskState]:
    return initial_tasks(
        FollowUpPlan(
            incident_id=INCIDENT,
            program_id=PROGRAM,
            client_id=uuid4(),
            owner_id=uuid4(),
            schedule=SPEC_SCHEDULE,
            grace=GRACE,
            starts_at=START,
        )
    )


def claimed(task: TaskState, by: UUID = WORKER) -> TaskState:
    return claim(task, ClaimTask(task_id=task.task_id, staff_id=by, role=Role.FOLLOWUP), START)


def finish(task: TaskState, outcome: FollowUpOutcome, at: datetime, by: UUID = WORKER) -> TaskState:
    request = CompleteTask(
        task_id=task.task_id, staff_id=by, role=Role.FOLLOWUP, outcome=outcome, notes="n"
    )
    return complete(task, request, at)


def test_one_task_per_scheduled_contact_with_stable_ids() -> None:
    made = tasks()
    assert [t.due_at - START for t in made] == SPEC_SCHEDULE
    assert [t.sequence for t in made] == [1, 2, 3, 4]
    assert [t.task_id for t in made] == [task_id_for(INCIDENT, n) for n in (1, 2, 3, 4)]
    assert len({t.task_id for t in made}) == 4
    assert task_id_for(INCIDENT, 1) != task_id_for(uuid4(), 1)
    first = made[0]
    assert (
        first.status,
        first.incident_id,
        first.program_id,
        first.created_at,
        first.updated_at,
    ) == (
        TaskStatus.REQUESTED,
        INCIDENT,
        PROGRAM,
        START,
        START,
    )
    assert followup_workflow_id(INCIDENT) == f"incident-{INCIDENT}-followup"


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.SUPERVISOR, Role.ADMIN])
def test_only_the_followup_role_claims(role: Role) -> None:
    task = tasks()[0]
    found = claim_refusal(task, ClaimTask(task_id=task.task_id, staff_id=WORKER, role=role))
    assert found is not None
    assert (found.status, found.code, found.detail) == (
        403,
        "forbidden_role",
        {
            Role.CLINICIAN: "a clinician may not claim tasks",
            Role.SUPERVISOR: "a supervisor may not claim tasks",
            Role.ADMIN: "an admin may not claim tasks",
        }[role],
    )


def test_a_claim_takes_the_task_once() -> None:
    task = tasks()[0]
    request = ClaimTask(task_id=task.task_id, staff_id=WORKER, role=Role.FOLLOWUP)
    assert claim_refusal(task, request) is None
    taken = claim(task, request, START + timedelta(hours=1))
    assert (taken.status, taken.assignee_id, taken.updated_at) == (
        TaskStatus.ACCEPTED,
        WORKER,
        START + timedelta(hours=1),
    )
    mine = claim_refusal(taken, request)
    assert mine is not None
    assert (mine.status, mine.code, mine.detail, mine.task_status) == (
        409,
        "already_claimed",
        "you already claimed this task",
        TaskStatus.ACCEPTED,
    )
    theirs = claim_refusal(taken, request.model_copy(update={"staff_id": OTHER_WORKER}))
    assert theirs is not None
    assert theirs.detail == "someone else claimed this task"


def test_an_unknown_or_settled_task_cannot_be_claimed() -> None:
    request = ClaimTask(task_id=uuid4(), staff_id=WORKER, role=Role.FOLLOWUP)
    missing = claim_refusal(None, request)
    assert missing is not None
    assert (missing.status, missing.code, missing.detail, missing.field) == (
        404,
        "not_found",
        "no such task",
        "task_id",
    )
    done = finish(claimed(tasks()[0]), FollowUpOutcome.REACHED_SAFE, START)
    settled = claim_refusal(done, request)
    assert settled is not None
    assert (settled.status, settled.code, settled.detail, settled.task_status) == (
        409,
        "task_settled",
        "the task is already completed",
        TaskStatus.COMPLETED,
    )


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (FollowUpOutcome.REACHED_SAFE, TaskStatus.COMPLETED),
        (FollowUpOutcome.REACHED_NEEDS_CARE, TaskStatus.COMPLETED),
        (FollowUpOutcome.DECLINED, TaskStatus.COMPLETED),
        (FollowUpOutcome.NO_ANSWER, TaskStatus.FAILED),
    ],
)
def test_a_completion_settles_the_task(outcome: FollowUpOutcome, status: TaskStatus) -> None:
    done = finish(claimed(tasks()[0]), outcome, START + timedelta(hours=25))
    assert (done.status, done.outcome, done.assignee_id, done.notes) == (
        status,
        outcome,
        WORKER,
        "n",
    )
    assert (done.updated_at, done.settled_at) == (START + timedelta(hours=25),) * 2
    assert done.is_settled


def test_who_may_complete_a_task() -> None:
    task = tasks()[0]
    request = CompleteTask(
        task_id=task.task_id,
        staff_id=WORKER,
        role=Role.FOLLOWUP,
        outcome=FollowUpOutcome.REACHED_SAFE,
    )
    missing = completion_refusal(None, request)
    assert missing is not None
    assert (missing.status, missing.code, missing.detail, missing.field) == (
        404,
        "not_found",
        "no such task",
        "task_id",
    )
    clinician = completion_refusal(task, request.model_copy(update={"role": Role.CLINICIAN}))
    assert clinician is not None
    assert (clinician.status, clinician.code, clinician.detail) == (
        403,
        "forbidden_role",
        "a clinician may not complete tasks",
    )
    unclaimed = completion_refusal(task, request)
    assert unclaimed is not None
    assert (unclaimed.status, unclaimed.code, unclaimed.detail, unclaimed.task_status) == (
        409,
        "not_claimed",
        "claim the task before completing it",
        TaskStatus.REQUESTED,
    )
    other = completion_refusal(claimed(task, OTHER_WORKER), request)
    assert other is not None
    assert (other.status, other.code, other.task_status) == (
        409,
        "not_assignee",
        TaskStatus.ACCEPTED,
    )
    assert (
        other.detail
        == "only the staff member who claimed the task (or a supervisor) may complete it"
    )
    assert completion_refusal(claimed(task), request) is None
    boss = request.model_copy(update={"role": Role.SUPERVISOR, "staff_id": SUPERVISOR})
    assert completion_refusal(task, boss) is None
    done = complete(task, boss, START)
    assert done.assignee_id == SUPERVISOR
    again = completion_refusal(done, boss)
    assert again is not None and again.code == "task_settled"


def test_cancel_settles_only_an_open_task() -> None:
    at = START + timedelta(days=2)
    cancelled = cancel(tasks()[0], at)
    assert (cancelled.status, cancelled.updated_at, cancelled.settled_at) == (
        TaskStatus.CANCELLED,
        at,
        at,
    )
    done = finish(claimed(tasks()[0]), FollowUpOutcome.REACHED_SAFE, START)
    assert cancel(done, at) is done


def test_a_task_audit_names_the_status_and_outcome_but_never_the_notes() -> None:
    done = finish(claimed(tasks()[1]), FollowUpOutcome.DECLINED, START + timedelta(days=3))
    entry = task_audit(done, actor_id=str(WORKER), actor_role="followup")
    assert (entry.event_key, entry.action, entry.program_id, entry.incident_id, entry.at) == (
        f"task:{done.task_id}:completed",
        "task.completed",
        PROGRAM,
        INCIDENT,
        START + timedelta(days=3),
    )
    assert (entry.actor_id, entry.actor_role) == (str(WORKER), "followup")
    assert entry.detail == {
        "task_id": str(done.task_id),
        "sequence": 2,
        "outcome": FollowUpOutcome.DECLINED,
    }
    opened = task_audit(tasks()[0], actor_id="system", actor_role="system")
    assert opened.detail == {"task_id": str(tasks()[0].task_id), "sequence": 1}


def test_the_no_answer_streak_is_the_latest_unbroken_run() -> None:
    first, second, third, fourth = tasks()
    day = timedelta(days=1)
    first = finish(claimed(first), FollowUpOutcome.NO_ANSWER, START + day)
    second = finish(claimed(second), FollowUpOutcome.REACHED_SAFE, START + 3 * day)
    assert no_answer_streak([first, second, third, fourth]) == []
    third = finish(claimed(third), FollowUpOutcome.NO_ANSWER, START + 7 * day)
    fourth = finish(claimed(fourth), FollowUpOutcome.NO_ANSWER, START + 30 * day)
    assert no_answer_streak([fourth, third, second, first]) == [third.task_id, fourth.task_id]


def test_a_cancelled_task_does_not_break_the_no_answer_streak() -> None:
    first, second, third, _ = tasks()
    day = timedelta(days=1)
    first = finish(claimed(first), FollowUpOutcome.NO_ANSWER, START + day)
    second = finish(claimed(second), FollowUpOutcome.NO_ANSWER, START + 3 * day)
    third = cancel(third, START + 5 * day)
    assert no_answer_streak([first, second, third]) == [first.task_id, second.task_id]


def test_an_overdue_task_is_reminded_at_its_due_time_then_escalated_after_the_grace() -> None:
    made = tasks()
    first_due = START + SPEC_SCHEDULE[0]
    assert next_alarm_at(made, GRACE) == first_due
    quiet, none = due_alarms(made, GRACE, first_due - timedelta(seconds=1))
    assert none == [] and quiet == made
    reminded, alarms = due_alarms(made, GRACE, first_due)
    assert [(a.task_id, a.kind, a.sequence) for a in alarms] == [
        (made[0].task_id, AlarmKind.REMINDER, 1)
    ]
    assert reminded[0].reminded_at == first_due and reminded[0].escalated_at is None
    assert next_alarm_at(reminded, GRACE) == first_due + GRACE
    escalated, alarms = due_alarms(reminded, GRACE, first_due + GRACE)
    assert [a.kind for a in alarms] == [AlarmKind.ESCALATION]
    assert escalated[0].escalated_at == first_due + GRACE
    assert next_alarm_at(escalated, GRACE) == START + SPEC_SCHEDULE[1]


def test_a_claimed_task_reminds_its_assignee_and_a_settled_one_nobody() -> None:
    made = tasks()
    made[0] = claimed(made[0])
    made[1] = finish(claimed(made[1]), FollowUpOutcome.REACHED_SAFE, START)
    _, alarms = due_alarms(made, GRACE, START + timedelta(days=60))
    assert {(a.sequence, a.assignee_id) for a in alarms if a.kind is AlarmKind.REMINDER} == {
        (1, WORKER),
        (3, None),
        (4, None),
    }
    assert next_alarm_at([made[1]], GRACE) is None
