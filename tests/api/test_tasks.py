"""The follow-up queue over HTTP: what a task shows, who may see and work it, filters and order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.followup import task_id_for
from domain.vocabulary import Role
from tests.helpers.followup import start_followup, work
from tests.helpers.problems import assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack
from tests.workflows.scenarios import SAFETY_PLAN


async def listed(
    stack: Stack, headers: dict[str, str], query: str = ""
) -> tuple[list[dict[str, Any]], int]:
    response = await stack.http.get(f"/v1/tasks{query}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["data"], body["count"]


async def test_a_task_shows_what_a_followup_call_needs_and_no_clinical_notes(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, plan = await start_followup(stack, program, sessions)

    tasks, count = await listed(stack, program.auth(Role.FOLLOWUP))

    assert count == 4
    first = tasks[0]
    assert first["id"] == str(task_id_for(plan.incident_id, 1))
    assert first["incident_id"] == str(plan.incident_id)
    assert first["sequence"] == 1
    assert first["status"] == "requested"
    assert first["assignee"] is None
    assert first["outcome"] is None
    assert first["client_first_name"] == "Ana"
    assert first["callback_number"] == "+15035550100"
    assert first["safety_plan"] == SAFETY_PLAN
    text = str(tasks)
    assert "Client in crisis during group" not in text  # the incident summary
    assert "Ruiz" not in text  # the last name is not needed for the call
    assert "notes" not in first


async def test_a_followup_role_token_cannot_read_clinical_notes(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, plan = await start_followup(stack, program, sessions)

    incident = await stack.http.get(
        f"/v1/incidents/{plan.incident_id}", headers=program.auth(Role.FOLLOWUP)
    )
    assert_problem(incident, 403)
    history = await stack.http.get(
        f"/v1/incidents/{plan.incident_id}/history", headers=program.auth(Role.FOLLOWUP)
    )
    assert_problem(history, 403)


async def test_clinicians_and_admins_may_not_use_the_task_queue(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    task_id = task_id_for(plan.incident_id, 1)
    for role in (Role.CLINICIAN, Role.ADMIN):
        assert_problem(await stack.http.get("/v1/tasks", headers=program.auth(role)), 403)
        claim = await stack.http.post(f"/v1/tasks/{task_id}/claim", headers=program.auth(role))
        assert_problem(claim, 403)
        complete = await stack.http.post(
            f"/v1/tasks/{task_id}/complete",
            json={"outcome": "reached_safe"},
            headers=program.auth(role),
        )
        assert_problem(complete, 403)
    # Supervisors read the queue (and may record outcomes) but do not claim.
    tasks, _ = await listed(stack, program.auth(Role.SUPERVISOR))
    assert len(tasks) == 4
    claim = await stack.http.post(
        f"/v1/tasks/{task_id}/claim", headers=program.auth(Role.SUPERVISOR)
    )
    assert_problem(claim, 403)
    assert_problem(await stack.http.get("/v1/tasks"), 401)


async def test_the_queue_filters_by_status_assignee_and_due_time_soonest_first(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, b = await start_followup(stack, program, sessions)
    await ts_env.sleep(timedelta(hours=12))
    _, a = await start_followup(stack, program, sessions)
    now = a.starts_at
    followup = program.auth(Role.FOLLOWUP)

    tasks, count = await listed(stack, followup)
    assert count == 8
    due = [t["due_at"] for t in tasks]
    assert due == sorted(due)
    order = [(t["incident_id"], t["sequence"]) for t in tasks]
    a_id, b_id = str(a.incident_id), str(b.incident_id)
    assert order[:4] == [(b_id, 1), (a_id, 1), (b_id, 2), (a_id, 2)]

    claimed = await work(stack, program, task_id_for(a.incident_id, 1), "claim")
    assert claimed["http_status"] == 200, claimed

    mine, _ = await listed(stack, followup, "?assignee=me")
    assert [t["id"] for t in mine] == [claimed["id"]]
    assert (await listed(stack, program.auth(Role.SUPERVISOR), "?assignee=me"))[1] == 0
    accepted, _ = await listed(stack, followup, "?status=accepted")
    assert [t["id"] for t in accepted] == [claimed["id"]]
    assert (await listed(stack, followup, "?status=requested"))[1] == 7

    cutoff = (now + timedelta(hours=25)).isoformat().replace("+00:00", "Z")
    due_soon, _ = await listed(stack, followup, f"?due_before={cutoff}")
    assert [(t["incident_id"], t["sequence"]) for t in due_soon] == [(b_id, 1), (a_id, 1)]

    page, total = await listed(stack, followup, "?limit=2&offset=1")
    assert total == 8
    assert [(t["incident_id"], t["sequence"]) for t in page] == [(a_id, 1), (b_id, 2)]

    naive = await stack.http.get("/v1/tasks?due_before=2030-01-01T00:00:00", headers=followup)
    assert assert_problem(naive, 422)["errors"][0]["field"] == "query.due_before"
    assert_problem(await stack.http.get("/v1/tasks?status=done", headers=followup), 422)


async def test_another_programs_task_is_not_found(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    other = await make_program(sessions, slug="other")
    _, plan = await start_followup(stack, program, sessions)
    task_id = task_id_for(plan.incident_id, 1)

    assert (await listed(stack, other.auth(Role.FOLLOWUP)))[1] == 0
    claim = await stack.http.post(f"/v1/tasks/{task_id}/claim", headers=other.auth(Role.FOLLOWUP))
    assert_problem(claim, 404)
    complete = await stack.http.post(
        f"/v1/tasks/{task_id}/complete",
        json={"outcome": "reached_safe"},
        headers=other.auth(Role.SUPERVISOR),
    )
    assert_problem(complete, 404)
    # Still open for its own program.
    tasks, _ = await listed(stack, program.auth(Role.FOLLOWUP), "?status=requested")
    assert str(task_id) in {t["id"] for t in tasks}


async def test_a_completion_with_a_wrong_body_is_refused_with_the_field(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    task_id = task_id_for(plan.incident_id, 1)
    assert (await work(stack, program, task_id, "claim"))["http_status"] == 200

    for body, field in [
        ({"outcome": "maybe"}, "outcome"),
        ({}, "outcome"),
        ({"outcome": "reached_safe", "summary": "x"}, "summary"),
        ({"outcome": "reached_safe", "notes": "x" * 4001}, "notes"),
        ({"outcome": "reached_safe", "notes": "Spoke\u0000at 10am"}, "notes"),
    ]:
        response = await stack.http.post(
            f"/v1/tasks/{task_id}/complete", json=body, headers=program.auth(Role.FOLLOWUP)
        )
        problem = assert_problem(response, 422)
        assert field in problem["detail"]

    unknown = await stack.http.post(
        "/v1/tasks/not-a-uuid/claim", headers=program.auth(Role.FOLLOWUP)
    )
    assert_problem(unknown, 422)
    tasks, _ = await listed(stack, program.auth(Role.FOLLOWUP), "?status=accepted")
    assert [t["id"] for t in tasks] == [str(task_id)]
