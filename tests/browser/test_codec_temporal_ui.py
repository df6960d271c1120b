"""The Temporal UI that `make run` starts, in a real browser (SPEC 10.4, issue 16): signed in to
the console as a supervisor, an incident's workflow shows its decoded input; without that
session it stays encrypted; and each decode is an audit event.

The dev server's UI takes the codec endpoint from `--ui-codec-endpoint`, but the CLI has no
flag for "include cross-origin credentials" (without it the UI's calls carry no cookie): a
supervisor turns it on once in the UI's Codec Server settings, as this test does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from domain.vocabulary import Role
from tests.helpers import browser as browsers
from tests.helpers.live_stack import LiveStack, live_stack

SUMMARY = "Says the river is calling him tonight"
UI_LOAD_SECONDS = 60


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveStack]:
    async with live_stack(tmp_path_factory.mktemp("live-ui"), temporal_ui=True) as stack:
        yield stack


def ui_origin(stack: LiveStack) -> str:
    return f"http://127.0.0.1:{stack.settings.temporal_ui_port}"


async def include_cross_origin_credentials(page: Page, stack: LiveStack) -> None:
    """What a supervisor does once in the Temporal UI: its Codec Server settings, "Use my
    browser setting", the endpoint, "Include cross-origin credentials", Apply (kept in the
    browser's local storage, so the UI's calls to the codec carry the console's cookie)."""
    namespace = stack.settings.temporal_namespace
    await page.goto(f"{ui_origin(stack)}/namespaces/{namespace}/workflows")
    await page.locator("[data-testid^='data-encoder-status']").first.click()
    await page.get_by_label("Use my browser setting and ignore Cluster-level setting.").check()
    await page.locator("#data-encoder-endpoint-input").fill(f"{stack.base_url}/codec")
    await page.get_by_text("Include cross-origin credentials", exact=True).click()
    switch = page.get_by_role("switch", name="Include cross-origin credentials")
    await expect(switch).to_be_checked()
    await page.get_by_role("button", name="Apply").click()


async def open_incident(stack: LiveStack) -> str:
    async with stack.http(Role.CLINICIAN) as clinician:
        opened = await clinician.post(
            "/v1/incidents",
            json={
                "client_id": stack.client_id,
                "crisis_type": "psychosis",
                "summary": SUMMARY,
                "location": {"zip": "97201"},
            },
        )
    assert opened.status_code == 201, opened.text
    incident_id: str = opened.json()["id"]
    return incident_id


def decode_events(stack: LiveStack, staff_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "SELECT detail FROM audit_event WHERE action = 'codec_decode' AND actor_id = %s",
            (staff_id,),
        ).fetchall()
    return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]


async def workflow_page(page: Page, stack: LiveStack, incident_id: str) -> None:
    namespace = stack.settings.temporal_namespace
    await page.goto(
        f"{ui_origin(stack)}/namespaces/{namespace}/workflows/incident-{incident_id}",
        timeout=UI_LOAD_SECONDS * 1000,
    )


async def test_a_signed_in_supervisor_reads_the_decoded_input_and_nobody_else(
    ui_stack: LiveStack, browser: Browser
) -> None:
    stack = ui_stack
    async with httpx.AsyncClient() as http:
        ui_settings = (await http.get(f"{ui_origin(stack)}/api/v1/settings")).json()
    assert ui_settings["Codec"]["Endpoint"] == f"{stack.base_url}/codec"  # --ui-codec-endpoint
    incident_id = await open_incident(stack)
    supervisor_id = stack.staff_ids[Role.SUPERVISOR]

    supervisor = await browsers.new_context(browser, stack.base_url)
    page = await supervisor.new_page()
    await browsers.sign_in(page, stack.tokens[Role.SUPERVISOR])
    await include_cross_origin_credentials(page, stack)
    await workflow_page(page, stack, incident_id)
    await expect(page.get_by_text(SUMMARY).first).to_be_visible(timeout=UI_LOAD_SECONDS * 1000)
    events = await asyncio.to_thread(decode_events, stack, supervisor_id)
    assert any(f"incident-{incident_id}" in event["workflow_ids"] for event in events), events
    await supervisor.close()

    stranger = await browsers.new_context(browser, stack.base_url)
    page = await stranger.new_page()
    await include_cross_origin_credentials(page, stack)
    async with page.expect_response(
        lambda answer: "/codec/decode" in answer.url, timeout=UI_LOAD_SECONDS * 1000
    ) as refused:
        await workflow_page(page, stack, incident_id)
    assert (await refused.value).status == 401
    await expect(page.get_by_text(f"incident-{incident_id}").first).to_be_visible(
        timeout=UI_LOAD_SECONDS * 1000
    )
    await expect(page.get_by_text(SUMMARY)).to_have_count(0)
    await stranger.close()
