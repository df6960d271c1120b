"""The console's live streams against the live stack: an open tab holds no database connection,
and a tab whose session ended elsewhere leaves the clinical page for the sign-in page."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import psycopg
import pytest
from playwright.async_api import expect

from domain.vocabulary import Role
from tests.browser.conftest import PageFor
from tests.helpers.databases import PG_ADMIN_URL
from tests.helpers.live_stack import CLIENT, LiveStack

pytestmark = pytest.mark.e2e

TABS = 25  # more than the API's pool (10 + 10 overflow) could hold at once


def _idle_in_transaction(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        # Held, not passing: a request between two statements is idle in transaction for a
        # moment; a stream holding its connection stays so for as long as the tab is open.
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND state = 'idle in transaction' "
            "AND now() - state_change > interval '1 second'",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


async def test_open_tabs_hold_no_database_connection(live_stack: LiveStack) -> None:
    async with httpx.AsyncClient(base_url=live_stack.base_url, timeout=30) as browser:
        signed = await browser.post("/signin", data={"token": live_stack.tokens[Role.CLINICIAN]})
        assert signed.status_code == 303
        async with contextlib.AsyncExitStack() as tabs:
            for _ in range(TABS):
                stream = await tabs.enter_async_context(browser.stream("GET", "/live/board"))
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
            for _ in range(5):  # every stream has polled several times (a live server)
                await asyncio.sleep(0.5)
            assert await asyncio.to_thread(_idle_in_transaction, live_stack.database_url) == 0
            # The API still answers everyone else, the board and the JSON API alike.
            board = await browser.get("/")
            assert board.status_code == 200
            async with live_stack.http(Role.SUPERVISOR) as api:
                assert (await api.get("/v1/incidents")).status_code == 200


async def test_a_tab_leaves_the_clinical_page_when_its_session_ends_elsewhere(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    async with live_stack.http(Role.CLINICIAN) as http:
        opened = await http.post(
            "/v1/incidents",
            json={
                "client_id": live_stack.client_id,
                "crisis_type": "panic",
                "summary": "Panic attack on the bus",
            },
        )
        incident_id = opened.json()["id"]
    first = await page_for(Role.CLINICIAN)
    await first.goto(f"/incidents/{incident_id}")
    await expect(first.locator("h1")).to_contain_text(CLIENT["first_name"])
    # A second tab of the same browser signs out.
    second = await first.context.new_page()
    await second.goto("/")
    await second.get_by_role("button", name="Sign out").click()
    await second.wait_for_url("**/signin")
    # The first tab, never touched, goes to the sign-in page: the client's name is gone.
    await first.wait_for_url("**/signin", timeout=5_000)
    await expect(first.get_by_text(CLIENT["first_name"])).to_have_count(0)
