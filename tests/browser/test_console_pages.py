"""The console's other desks in real Chromium against the live stack: a follow-up worker claims
and completes a task, a supervisor reads an incident's history, and every page of every role
passes axe-core with no serious or critical violation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect

from domain.vocabulary import Role
from tests.browser.conftest import PageFor
from tests.helpers.followup import TO_FOLLOWUP
from tests.helpers.live_stack import LiveStack
from tests.helpers.polling import eventually

pytestmark = pytest.mark.e2e

AxeCheck = Callable[[Page], Awaitable[None]]


async def walked_to_followup(live_stack: LiveStack) -> str:
    """An incident walked through the JSON API to its follow-up, once its tasks exist."""
    async with live_stack.http(Role.CLINICIAN) as http:
        opened = await http.post(
            "/v1/incidents",
            json={
                "client_id": live_stack.client_id,
                "crisis_type": "suicidal_ideation",
                "summary": "Passive thoughts after a breakup",
            },
        )
        assert opened.status_code == 201, opened.text
        incident_id: str = opened.json()["id"]
        for body in TO_FOLLOWUP:
            answer = await http.post(f"/v1/incidents/{incident_id}/decisions", json=body)
            assert answer.status_code == 200, answer.text

        async def tasks() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = (await http.get(f"/v1/incidents/{incident_id}")).json()[
                "tasks"
            ]
            return found or None

        await eventually(tasks, "the follow-up's tasks")
    return incident_id


async def test_a_followup_worker_claims_and_completes_a_task(
    live_stack: LiveStack, page_for: PageFor, axe_check: AxeCheck
) -> None:
    incident_id = await walked_to_followup(live_stack)
    async with live_stack.http(Role.CLINICIAN) as http:
        task_id = (await http.get(f"/v1/incidents/{incident_id}")).json()["tasks"][0]["id"]
    page = await page_for(Role.FOLLOWUP)
    await page.goto("/tasks")
    row = page.locator(f'[data-task-id="{task_id}"]')
    await expect(row).to_be_visible()
    await axe_check(page)
    await row.get_by_role("button", name="Claim").click()
    await expect(row.locator("[data-assignee]")).to_contain_text("(you)")
    await row.get_by_text("Record the outcome").click()
    await row.locator("select[name='outcome']").select_option("reached_safe")
    await row.locator("textarea[name='notes']").fill("Reached by phone; using the safety plan")
    await row.get_by_role("button", name="Complete the task").click()
    async with live_stack.http(Role.SUPERVISOR) as http:

        async def completed() -> dict[str, Any] | None:
            listed = (await http.get("/v1/tasks", params={"status": "completed"})).json()
            done = [t for t in listed["data"] if t["id"] == task_id]
            return done[0] if done else None

        task = await eventually(completed, "the completed task")
    assert task["outcome"] == "reached_safe"
    assert task["assignee"] == live_stack.staff_ids[Role.FOLLOWUP]


async def test_a_supervisor_reads_an_incidents_history(
    live_stack: LiveStack, page_for: PageFor, axe_check: AxeCheck
) -> None:
    incident_id = await walked_to_followup(live_stack)
    page = await page_for(Role.SUPERVISOR)
    await page.goto("/supervise")
    await axe_check(page)
    await page.locator(f'a[href="/supervise/incidents/{incident_id}"]').first.click()
    timeline = page.locator("[data-timeline]")
    for kind in ("decision.assessment", "decision.deescalation", "decision.disposition"):
        entry = timeline.locator(f'[data-event-kind="{kind}"]')
        await expect(entry.first).to_be_visible()
    # The history names who decided, not only their id.
    await expect(timeline.locator('[data-event-kind="decision.assessment"]')).to_contain_text(
        "Clinician of river"
    )
    await axe_check(page)


@pytest.mark.parametrize(
    ("role", "paths"),
    [
        (None, ["/signin"]),
        (Role.CLINICIAN, ["/", "/incidents/new", "/?stage=open&mine=true"]),
        (Role.SUPERVISOR, ["/", "/tasks", "/supervise"]),
        (Role.FOLLOWUP, ["/tasks", "/tasks?show=all"]),
        (Role.ADMIN, ["/admin", "/admin/staff", "/admin/resources"]),
    ],
)
async def test_every_page_passes_axe(
    live_stack: LiveStack,
    page_for: PageFor,
    axe_check: AxeCheck,
    role: Role | None,
    paths: list[str],
) -> None:
    page = await page_for(role)
    for path in paths:
        shown = await page.goto(path)
        assert shown is not None and shown.status == 200, path
        await axe_check(page)
    if role is Role.ADMIN:
        await page.goto(f"/admin/clients/{live_stack.client_id}")
        await axe_check(page)
    if role is Role.CLINICIAN:
        incident_id = await walked_to_followup(live_stack)
        await page.goto(f"/incidents/{incident_id}")
        await axe_check(page)
        for summary in await page.locator("details.decision > summary").all():
            await summary.click()  # every decision form open, as a clinician would see it
        await axe_check(page)
        missing = await page.goto("/incidents/00000000-0000-0000-0000-000000000000")
        assert missing is not None and missing.status == 404
        await axe_check(page)
    if role is Role.SUPERVISOR:
        incident_id = await walked_to_followup(live_stack)
        await page.goto(f"/supervise/incidents/{incident_id}")
        await axe_check(page)
