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
