"""The engine baseline: a trivial workflow with one activity, the least a Temporal incident costs.

Sandbox-safe on purpose (only temporalio imports): the worker re-imports this module.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_touch")
async def touch(value: str) -> str:
    return value


@workflow.defn(name="BenchTrivial")
class TrivialWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(
            touch, value, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn(name="BenchUpdatable")
class UpdatableWorkflow:
    """The engine's floor for a decision: one synchronous update handler, no activity."""

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._done)
        return len(self._notes)

    @workflow.update(name="note")
    def note(self, text: str) -> int:
        self._notes.append(text)
        return len(self._notes)

    @workflow.signal(name="done")
    def done(self) -> None:
        self._done = True
