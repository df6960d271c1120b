"""Follow-up as part of the incident: the disposition schedules the tasks, and what the
follow-up finds comes back to the incident (closed, reopened, or a welfare check)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE, DEESCALATED, disposition

SCHEDULE = protocol_for(CrisisType.SUICIDAL_IDEATION).followup_schedule


@pytest_asyncio.fixture(loop_scope="session")
async def stack(reachable_stack: Stack) -> Stack:
    """Pages here must reach the staff they name (by email at a local SMTP sink)."""
    return reachable_stack


async def stabilized(stack: Stack, program: DemoProgram) -> dict[str, Any]:
    incident = await open_incident(stack, program, "suicidal_ideation")
    for body in (CSSRS_MODERATE, DEESCALATED, disposition(with_safety_plan=True)):
        await decide(stack, program, incident["id"], body)
    return incident


async def tasks_of(stack: Stack, program: DemoProgram, count: int) -> list[dict[str, Any]]:
    async def listed() -> list[dict[str, Any]] | None:
        response = await stack.http.get("/v1/tasks", headers=program.auth(Role.FOLLOWUP))
        data: list[dict[str, Any]] = response.json()["data"]
        return data if len(data) >= count else None

    return await eventually(listed, f"{count} follow-up tasks")


async def work(stack: Stack, program: DemoProgram, task_id: str, outcome: str) -> None:
    followup = program.auth(Role.FOLLOWUP)
    claimed = await stack.http.post(f"/v1/tasks/{task_id}/claim", headers=followup)
    assert claimed.status_code == 200, claimed.text
    done = await stack.http.post(
        f"/v1/tasks/{task_id}/complete", json={"outcome": outcome}, headers=followup
    )
    assert done.status_code == 200, done.text


async def stage_of(stack: Stack, program: DemoProgram, incident_id: str, stage: str) -> Any:
    async def reached() -> dict[str, Any] | None:
        response = await stack.http.get(
            f"/v1/incidents/{incident_id}", headers=program.auth(Role.SUPERVISOR)
        )
        state: dict[str, Any] = response.json()
        return state if state["stage"] == stage else None

    return await eventually(reached, f"stage {stage}")


async def test_disposition_schedules_tasks_and_the_incident_closes_after_the_last(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await stabilized(stack, program)
    await stage_of(stack, program, incident["id"], "follow_up")
    tasks = await tasks_of(stack, program, len(SCHEDULE))
    assert [t["incident_id"] for t in tasks] == [incident["id"]] * len(SCHEDULE)
    assert tasks[0]["safety_plan"]["means_safety"] == ["medications locked by sister"]
    for task in tasks:
        await work(stack, program, task["id"], "reached_safe")
    closed = await stage_of(stack, program, incident["id"], "closed")
    assert closed["ended_at"] is not None
    history = await stack.http.get(
        f"/v1/incidents/{incident['id']}/history", headers=program.auth(Role.SUPERVISOR)
    )
    closing = [e for e in history.json()["events"] if e["type"] == "audit.incident.closed"]
    assert closing[0]["detail"]["reason"] == "every follow-up task settled"


async def test_reached_needs_care_reopens_clinical_work_and_pages_the_owner(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await stabilized(stack, program)
    tasks = await tasks_of(stack, program, len(SCHEDULE))
    await work(stack, program, tasks[0]["id"], "reached_needs_care")
    reopened = await stage_of(stack, program, incident["id"], "assessing")
    assert "assessment" in reopened["allowed_decisions"]
    owner = str(program.staff[Role.CLINICIAN].id)

    async def owner_paged() -> bool:
        response = await stack.http.get(
            f"/v1/incidents/{incident['id']}", headers=program.auth(Role.SUPERVISOR)
        )
        return any(
            owner in p["recipients"] and "reopened" in p["reason"] for p in response.json()["pages"]
        )

    await eventually(owner_paged, "the owner paged")


async def test_two_unanswered_follow_ups_require_a_welfare_check(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await stabilized(stack, program)
    tasks = await tasks_of(stack, program, len(SCHEDULE))
    await work(stack, program, tasks[0]["id"], "no_answer")
    await work(stack, program, tasks[1]["id"], "no_answer")

    async def welfare() -> dict[str, Any] | None:
        response = await stack.http.get(
            f"/v1/incidents/{incident['id']}", headers=program.auth(Role.SUPERVISOR)
        )
        state: dict[str, Any] = response.json()
        return state if state["required_steps"] == ["dispatch"] else None

    state = await eventually(welfare, "a welfare check required")
    assert "dispatch" in state["allowed_decisions"]
    await ts_env.sleep(timedelta(minutes=3))
    paged = await stage_of(stack, program, incident["id"], "follow_up")
    assert any("welfare check" in p["reason"] for p in paged["pages"])
