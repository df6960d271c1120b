"""SPEC 10.1: history stays bounded. An incident left 30 days with an alarm nobody answers keeps
paging on the backoff, stays under 10,000 events and 5 MB of history per run (it continues as
new, carrying its state and its follow-up), and is still running. On the time-skipping server.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.followup import followup_workflow_id
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import DISPATCH_911, disposition

# SPEC 10.1's bounds, and its backoff: 5, 10, 20, 40 minutes, then hourly.
MAX_EVENTS = 10_000
MAX_BYTES = 5 * 1024 * 1024
DAYS = 30


async def test_an_unanswered_alarm_for_30_days_keeps_history_bounded(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "assessment",
            "instrument": "clinical_judgement",
            "risk_override": "high",
            "justification": "Plan and means disclosed on video",
        },
    )
    # 911 was called; nobody ever confirms the team en route, so its alarm never clears.
    await decide(stack, program, incident["id"], DISPATCH_911)
    state = await decide(stack, program, incident["id"], disposition(with_safety_plan=True))
    assert "dispatch_unconfirmed" in [t["name"] for t in state["pending_timers"]]

    await ts_env.sleep(timedelta(days=DAYS))

    handle = stack.client.get_workflow_handle(incident["workflow_id"])
    described = await handle.describe()
    assert described.status is WorkflowExecutionStatus.RUNNING
    history = await handle.fetch_history()
    size = sum(event.ByteSize() for event in history.events)
    print(f"\n30 days unanswered: this run {len(history.events)} events, {size:,} bytes")
    assert len(history.events) < MAX_EVENTS
    assert size < MAX_BYTES
    followup = await stack.client.get_workflow_handle(
        followup_workflow_id(incident["id"])
    ).describe()
    assert followup.status is WorkflowExecutionStatus.RUNNING

    # Still paging, on the backoff: 5 + 10 + 20 + 40 minutes, then about hourly for 30 days.
    state = await detail(stack, program, incident["id"])
    alarm = next(t for t in state["pending_timers"] if t["name"] == "dispatch_unconfirmed")
    hourly = (timedelta(days=DAYS) - timedelta(minutes=15 + 5 + 10 + 20 + 40)) / timedelta(hours=1)
    print(f"alarm pages sent: {alarm['pages_sent']} (expected about {4 + hourly:.0f})")
    assert 4 + hourly - 2 <= alarm["pages_sent"] <= 4 + hourly + 1
    # The run that answered is not the first: the workflow continued as new on the way.
    first_event = history.events[0]
    assert first_event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    started = first_event.workflow_execution_started_event_attributes
    assert started.continued_execution_run_id, "the workflow never continued as new"
    # And it still takes decisions.
    noted = await decide(stack, program, incident["id"], {"kind": "note", "text": "Watching"})
    assert noted["stage"] == "follow_up"
