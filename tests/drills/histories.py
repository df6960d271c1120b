"""Every activity an incident ran, read from Temporal's own histories: each run of the incident
workflow (it continues as new) and each child it started (contact ladders, the follow-up), and
how many attempts each took. A retry leaves no event of its own; the attempt count is on the
activity's `ActivityTaskStarted` event (written when the activity ends) or, while it is still
pending, in the workflow's description."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

# These drills break data, never the infrastructure (no worker, database or network outage),
# so nothing in them may be retried: a permanent refusal or a data error ends its activity at
# the first attempt, and every other activity succeeds at its first.
ATTEMPTS_ALLOWED = 1

_ENDED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "completed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "failed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "timed_out",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "canceled",
}


@dataclass(frozen=True)
class ActivityRun:
    workflow_id: str
    activity: str
    attempt: int
    # completed, failed (its error type), timed_out, canceled, pending, or left (by a run that
    # continued as new while it was under way)
    outcome: str

    def __str__(self) -> str:
        return f"{self.workflow_id}: {self.activity} {self.outcome} after {self.attempt} attempts"


async def workflow_runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of the workflow, first to latest, following continue-as-new back."""
    runs = [await client.get_workflow_handle(workflow_id).fetch_history()]
    while True:
        started = runs[-1].events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return runs[::-1]
        previous = client.get_workflow_handle(
            workflow_id, run_id=started.continued_execution_run_id
        )
        runs.append(await previous.fetch_history())


async def activity_runs(client: Client, workflow_ids: Iterable[str]) -> list[ActivityRun]:
    """The activities of these workflows, of every run, and of every child they started."""
    found: list[ActivityRun] = []
    queue, seen = list(workflow_ids), set[str]()
    while queue:
        workflow_id = queue.pop()
        if workflow_id in seen:
            continue
        seen.add(workflow_id)
        runs = await workflow_runs(client, workflow_id)
        pending = await _pending_attempts(client, workflow_id)
        for history in runs:
            # Only the latest run can have activities pending; an earlier one's never-ended
            # activities were left behind when it continued as new.
            found += _activities(workflow_id, history, pending if history is runs[-1] else {})
            queue += [
                e.start_child_workflow_execution_initiated_event_attributes.workflow_id
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
            ]
    return found


def _activities(
    workflow_id: str, history: WorkflowHistory, pending: dict[str, int]
) -> list[ActivityRun]:
    scheduled: dict[int, tuple[str, str]] = {}
    attempts: dict[int, int] = {}
    outcomes: dict[int, str] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = (attrs.activity_type.name, attrs.activity_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            attempts[started.scheduled_event_id] = started.attempt
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            kind = failed.failure.application_failure_info.type or "error"
            outcomes[failed.scheduled_event_id] = f"failed ({kind})"
        elif event.event_type in _ENDED:
            ended = getattr(event, event.WhichOneof("attributes") or "")
            outcomes[ended.scheduled_event_id] = _ENDED[EventType.ValueType(event.event_type)]
    return [
        ActivityRun(
            workflow_id=workflow_id,
            activity=name,
            attempt=attempts.get(event_id, pending.get(activity_id, 0)),
            outcome=outcomes.get(event_id, "pending" if activity_id in pending else "left"),
        )
        for event_id, (name, activity_id) in scheduled.items()
    ]


async def _pending_attempts(client: Client, workflow_id: str) -> dict[str, int]:
    described = await client.get_workflow_handle(workflow_id).describe()
    if described.status is not WorkflowExecutionStatus.RUNNING:
        return {}
    return {p.activity_id: p.attempt for p in described.raw_description.pending_activities}


def over_budget(runs: Iterable[ActivityRun]) -> list[str]:
    return [str(r) for r in runs if r.attempt > ATTEMPTS_ALLOWED]


def attempts_by_activity(runs: Iterable[ActivityRun]) -> dict[str, dict[str, int]]:
    """{activity: {"<outcome> x<attempts>": count}}, for the drill's printout."""
    counted: dict[str, Counter[str]] = {}
    for r in runs:
        counted.setdefault(r.activity, Counter())[f"{r.outcome} x{r.attempt}"] += 1
    return {name: dict(sorted(c.items())) for name, c in sorted(counted.items())}
