"""The follow-up queue (`/tasks`) over the real app, with a follow-up started the way the product
starts it: what a follow-up worker sees, claims and completes, and what the JSON API then says."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from api.console.live import tasks_version
from domain.vocabulary import Role
from tests.helpers.console_pages import problem_of, signed_in, submit, text_of
from tests.helpers.followup import start_followup, task_rows
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack


def row_of(html: str, task_id: object) -> str:
    found = re.search(rf'<tr id="task-{task_id}" data-task-id="{task_id}".*?</tr>', html, re.S)
    assert found, f"no row for task {task_id}"
    return found.group(0)


async def test_a_followup_worker_claims_calls_and_completes_a_task(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    first, *rest = await task_rows(sessions, plan.incident_id)
    async with signed_in(stack, program, Role.FOLLOWUP) as browser:
        queue = await browser.get("/tasks")
        assert queue.status_code == 200
        assert queue.headers["cache-control"] == "no-store"
        assert 'sse-connect="/live/tasks"' in queue.text
        # Soonest due first: the rows come in the order of the tasks' due times.
        shown = re.findall(r'data-task-id="([^"]+)"', queue.text)
        assert shown == [str(t.id) for t in sorted([first, *rest], key=lambda t: t.due_at)]
        row = row_of(queue.text, first.id)
        assert 'href="tel:+15035550100"' in row  # the client's callback number, to call
        assert "unclaimed" in text_of(row)
        assert "Safety plan" in row

        claimed = await submit(browser, "/tasks", f"/tasks/{first.id}/claim")
        assert claimed.status_code == 200
        row = row_of(claimed.text, first.id)
        assert "followup of demo (you)" in text_of(row)
        assert 'data-status="accepted"' in row
        assert f'action="/tasks/{first.id}/complete"' in row  # now the outcome form is offered

        done = await submit(
            browser,
            "/tasks",
            f"/tasks/{first.id}/complete",
            {"outcome": "reached_safe", "notes": "Slept well, plan in use"},
        )
        assert done.status_code == 200
        assert "reached safe" in text_of(row_of(done.text, first.id))
        # Settled, it leaves the open queue.
        assert f'data-task-id="{first.id}"' not in (await browser.get("/tasks")).text

    answer = await stack.http.get(
        "/v1/tasks", params={"status": "completed"}, headers=program.auth(Role.FOLLOWUP)
    )
    [recorded] = answer.json()["data"]
    assert recorded["id"] == str(first.id)
    assert recorded["outcome"] == "reached_safe"
    assert recorded["assignee"] == str(program.staff[Role.FOLLOWUP].id)


async def test_a_refused_claim_is_shown_in_the_page_not_as_an_error(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    first, *_ = await task_rows(sessions, plan.incident_id)
    async with signed_in(stack, program, Role.FOLLOWUP) as browser:
        await submit(browser, "/tasks", f"/tasks/{first.id}/claim")
        again = await submit(browser, "/tasks", f"/tasks/{first.id}/claim")
        assert again.status_code == 409
        refusal = problem_of(again.text)
        assert refusal is not None and "claimed" in refusal
        # A complete form with no outcome is refused by the route's own model, naming the field.
        wrong = await submit(browser, "/tasks", f"/tasks/{first.id}/complete", {"notes": "x"})
        assert wrong.status_code == 422
        assert "outcome" in (problem_of(wrong.text) or "")


async def test_a_post_without_the_csrf_token_claims_nothing(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    first, *_ = await task_rows(sessions, plan.incident_id)
    async with signed_in(stack, program, Role.FOLLOWUP) as browser:
        refused = await browser.post(f"/tasks/{first.id}/claim", data={})
        assert refused.status_code == 403
        forged = await browser.post(f"/tasks/{first.id}/claim", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    [row, *_] = await task_rows(sessions, plan.incident_id)
    assert row.status == "requested" and row.assignee_id is None


async def test_the_queue_is_for_followup_workers_and_supervisors_only(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    first, *_ = await task_rows(sessions, plan.incident_id)
    async with signed_in(stack, program, Role.SUPERVISOR) as browser:
        queue = await browser.get("/tasks")
        assert queue.status_code == 200
        row = row_of(queue.text, first.id)
        assert f"/tasks/{first.id}/claim" not in row  # supervisors do not claim
        assert f"/tasks/{first.id}/complete" in row  # but may record any open task's outcome
    for role, home in ((Role.CLINICIAN, "/"), (Role.ADMIN, "/admin")):
        async with signed_in(stack, program, role) as browser:
            assert (await browser.get("/tasks")).status_code == 404
            assert (await browser.get("/tasks/rows")).status_code == 404
            # The stream is refused with 204, which tells a browser's EventSource not to retry.
            refused = await browser.get("/live/tasks")
            assert refused.status_code == 204 and refused.content == b""
            claim = await submit(browser, home, f"/tasks/{first.id}/claim")
            assert claim.status_code == 404


async def test_the_live_version_changes_when_a_task_is_claimed(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    first, *_ = await task_rows(sessions, plan.incident_id)
    async with sessions() as session:
        before = await tasks_version(session, program.program.id)
    async with signed_in(stack, program, Role.FOLLOWUP) as browser:
        await submit(browser, "/tasks", f"/tasks/{first.id}/claim")
    async with sessions() as session:
        assert await tasks_version(session, program.program.id) != before
