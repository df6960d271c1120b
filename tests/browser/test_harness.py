"""The browser harness itself: Debian's Chromium launches, the live stack's processes answer in
it, the API process can be taken down and brought back, axe-core runs and fails a page that
breaks a serious rule, and a clinician signs in through the console's form."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Browser, Error, Page

from domain.vocabulary import Role
from tests.browser.conftest import PageFor
from tests.helpers.browser import CHROMIUM
from tests.helpers.live_stack import LiveStack

pytestmark = pytest.mark.e2e

AxeCheck = Callable[[Page], Awaitable[None]]


async def test_chromium_is_the_system_binary(browser: Browser) -> None:
    printed = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, check=True
    ).stdout
    installed = re.search(r"\d+\.\d+\.\d+\.\d+", printed)
    assert installed is not None, printed
    assert browser.version == installed.group(0)


async def test_the_live_api_answers_in_the_browser(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    page = await page_for(None)
    health = await page.goto("/healthz")
    assert health is not None and health.status == 200
    docs = await page.goto("/docs")
    assert docs is not None and docs.status == 200
    assert live_stack.device_token and live_stack.client_id and live_stack.contact_id
    assert set(live_stack.tokens) == set(Role)


async def test_the_api_process_stops_and_starts_again(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    page = await page_for(None)
    await live_stack.stop_api()
    try:
        with pytest.raises(Error, match="ERR_CONNECTION_REFUSED"):
            await page.goto("/healthz")
    finally:
        await live_stack.start_api()
    answered = await page.goto("/healthz")
    assert answered is not None and answered.status == 200


async def test_axe_fails_a_page_with_a_serious_violation_and_passes_a_clean_one(
    page_for: PageFor, axe_check: AxeCheck
) -> None:
    page = await page_for(None)
    await page.set_content(
        '<!doctype html><html lang="en"><head><title>Help</title></head><body><main>'
        '<h1>Help</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        "</main></body></html>"
    )
    with pytest.raises(AssertionError, match="image-alt"):
        await axe_check(page)
    await page.set_content(
        '<!doctype html><html lang="en"><head><title>Help</title></head><body><main>'
        '<h1>Help</h1><img alt="Crisis line" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
        "</main></body></html>"
    )
    await axe_check(page)


async def test_a_clinician_signs_in_on_the_console_form(
    live_stack: LiveStack, page_for: PageFor, axe_check: AxeCheck
) -> None:
    async with live_stack.http() as http:
        if (await http.get("/signin")).status_code == 404:
            pytest.skip("the console's /signin is not served yet")
    page = await page_for(Role.CLINICIAN)
    assert not page.url.endswith("/signin")
    cookies = await page.context.cookies()
    assert any(c["httpOnly"] for c in cookies), cookies
    await axe_check(page)
