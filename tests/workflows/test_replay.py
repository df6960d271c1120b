"""Replay: recorded incident histories must replay on today's workflow code, so a change that
breaks determinism fails the suite. Re-record with `python -m tests.workflows.record_histories`
only for an intended, versioned change."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from infra.signing_interceptors import DecisionSigning
from infra.temporal import data_converter_for
from tests.helpers.incidents import decide, open_incident
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import DECISION_KEY, KEYRING, Stack
from tests.workflows.record_histories import HISTORIES, replay_keyring
from tests.workflows.scenarios import CSSRS_MODERATE
from worker import WORKFLOWS

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_there_are_recorded_histories() -> None:
    assert len(RECORDED) >= 3


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: Path(p).stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    # With the worker's signature checks: signals recorded unsigned replay as they ran.
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter_for(replay_keyring()),
        interceptors=[DecisionSigning(DECISION_KEY)],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def test_replay_detects_a_nondeterministic_change(stack: Stack, program: DemoProgram) -> None:
    """The guard works: a history whose commands differ from the code's must fail to replay."""
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(stack, program, incident["id"], CSSRS_MODERATE)
    history = await stack.client.get_workflow_handle(incident["workflow_id"]).fetch_history()
    # Drop the first activity the workflow scheduled: the code will schedule it, history won't.
    events = [
        e for e in history.events if not e.HasField("activity_task_scheduled_event_attributes")
    ]
    tampered = WorkflowHistory(history.workflow_id, events)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter_for(KEYRING))
    result = await replayer.replay_workflow(tampered, raise_on_replay_failure=False)
    assert result.replay_failure is not None
