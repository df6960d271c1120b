"""Browser tests: real Chromium (Playwright's async API) against a live stack of real processes.

- `live_stack` (session): Temporal dev server, `crisisdesk worker` and `crisisdesk api` on a fresh
  PostgreSQL database, SMTP sink and fake Twilio; seeded with an admin, a clinician, a supervisor,
  a follow-up worker, the client Ana Ruiz with a medical contact and its consent, and a device
  token for her SOS page (tests/helpers/live_stack.py). `await live_stack.stop_api()` /
  `start_api()` take the API process down and up; `live_stack.http(role)` is a JSON API client.
- `browser` (session): headless Chromium from /usr/bin/chromium.
- `page_for` (per test): `await page_for(Role.CLINICIAN)` is a page in a browser context of its
  own, signed in through /signin; `await page_for(None, geolocation=..., permissions=[...])` a
  page nobody signed in on (the client's SOS page). Relative `goto` paths are on the stack.
- `axe_check` (per test): `await axe_check(page)` fails on any serious or critical violation.

Everything runs on the suite's one session event loop (asyncio_mode=auto): the fake Twilio
answers the worker from that loop, so these tests are async and await Playwright.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page

from domain.vocabulary import Role
from tests.helpers import browser as browsers
from tests.helpers.live_stack import LiveStack
from tests.helpers.live_stack import live_stack as start_live_stack

PageFor = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def live_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveStack]:
    async with start_live_stack(tmp_path_factory.mktemp("live")) as stack:
        yield stack


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with browsers.chromium() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="session")
async def page_for(live_stack: LiveStack, browser: Browser) -> AsyncIterator[PageFor]:
    contexts: list[BrowserContext] = []

    async def open_page(role: Role | None, **context_options: Any) -> Page:
        context = await browsers.new_context(browser, live_stack.base_url, **context_options)
        contexts.append(context)
        page = await context.new_page()
        if role is not None:
            await browsers.sign_in(page, live_stack.tokens[role])
        return page

    yield open_page
    for context in contexts:
        await context.close()


@pytest.fixture
def axe_check() -> Callable[[Page], Awaitable[None]]:
    return browsers.axe_check
