"""The client's SOS page in real Chromium against the live stack (SPEC 10.3): pressing "Get help
now" with the location allowed opens an incident where the client is and says help is being
reached; with the API process gone the page loaded before still shows 911 and 988; with the
location refused the press still goes; axe-core finds nothing serious; the token is not logged."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect

from domain.vocabulary import Role
from tests.browser.conftest import PageFor
from tests.helpers.live_stack import CRISIS_LINE, LiveStack

pytestmark = pytest.mark.e2e

AxeCheck = Callable[[Page], Awaitable[None]]
NEAR_PORTLAND = {"latitude": 45.5079, "longitude": -122.6908, "accuracy": 25}
HELP_IS_COMING = re.compile(r"reaching your care team now", re.IGNORECASE)
CALL_911_988 = re.compile(r"call 911.*988", re.IGNORECASE)


async def _sos_page(page_for: PageFor, live_stack: LiveStack, **context: Any) -> Page:
    page = await page_for(None, **context)
    answered = await page.goto(f"/sos/{live_stack.device_token}")
    assert answered is not None and answered.status == 200
    return page


async def _numbers_are_shown(page: Page, *, crisis_line: bool = True) -> None:
    """911, 988 and (for a client's own link) the program's nearest crisis line, each a number
    to call."""
    for phone in ("911", "988", *([CRISIS_LINE["phone"]] if crisis_line else [])):
        await expect(page.locator(f"a[href='tel:{phone}']")).to_be_visible()


async def test_pressing_with_the_location_allowed_opens_an_incident_where_the_client_is(
    live_stack: LiveStack, page_for: PageFor, axe_check: AxeCheck
) -> None:
    page = await _sos_page(
        page_for, live_stack, geolocation=NEAR_PORTLAND, permissions=["geolocation"]
    )
    await _numbers_are_shown(page)
    button = page.get_by_role("button", name="Get help now")
    async with page.expect_response("**/v1/sos") as pressed:
        await button.click()
    answer = await (await pressed.value).json()
    status = page.get_by_role("status")
    await expect(status).to_have_text(HELP_IS_COMING)
    await _numbers_are_shown(page)
    async with live_stack.http(Role.CLINICIAN) as http:
        incident = await http.get(f"/v1/incidents/{answer['incident_id']}")
    assert incident.status_code == 200, incident.text
    location = incident.json()["location"]
    assert location["lat"] == pytest.approx(NEAR_PORTLAND["latitude"])
    assert location["lon"] == pytest.approx(NEAR_PORTLAND["longitude"])


async def test_with_the_api_gone_the_page_still_shows_911_and_988(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    page = await _sos_page(
        page_for, live_stack, geolocation=NEAR_PORTLAND, permissions=["geolocation"]
    )
    await live_stack.stop_api()
    try:
        await page.get_by_role("button", name="Get help now").click()
        await expect(page.get_by_role("status")).to_have_text(CALL_911_988)
        await _numbers_are_shown(page)
    finally:
        await live_stack.start_api()


async def test_with_the_location_refused_the_press_still_reaches_the_care_team(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    page = await _sos_page(page_for, live_stack)
    async with page.expect_request("**/v1/sos") as sent:
        await page.get_by_role("button", name="Get help now").click()
    assert (await sent.value).post_data_json == {}
    await expect(page.get_by_role("status")).to_have_text(HELP_IS_COMING)


async def test_a_dead_link_shows_911_and_988_and_no_button(
    live_stack: LiveStack, page_for: PageFor, axe_check: AxeCheck
) -> None:
    page = await page_for(None)
    answered = await page.goto("/sos/not-a-device-token-of-anyone")
    assert answered is not None and answered.status == 404
    await _numbers_are_shown(page, crisis_line=False)  # whose program it is, a dead link cannot say
    await expect(page.get_by_role("button")).to_have_count(0)
    await axe_check(page)


async def test_without_javascript_the_button_still_reaches_the_care_team(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    # axe-core needs JavaScript: the same page is checked with it above.
    page = await _sos_page(page_for, live_stack, java_script_enabled=False)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Get help now").click()
    await expect(page.get_by_role("status")).to_have_text(HELP_IS_COMING)
    await _numbers_are_shown(page)


async def test_the_device_token_is_not_in_the_api_log(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    await _sos_page(page_for, live_stack)
    logged = "".join(path.read_text() for path in live_stack.logs.glob("api*.log"))
    assert "/sos/[redacted]" in logged
    assert live_stack.device_token not in logged
