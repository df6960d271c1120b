"""`/docs` in real Chromium against the live stack (SPEC 10.3, "works offline"): Swagger UI
shows every operation of the OpenAPI document, asks no other origin for anything, and runs
under the page's Content-Security-Policy without a violation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import ConsoleMessage, Page, Request, expect

from tests.browser.conftest import PageFor
from tests.helpers.live_stack import LiveStack

pytestmark = pytest.mark.e2e

AxeCheck = Callable[[Page], Awaitable[None]]


async def test_docs_shows_every_operation_from_the_app_alone(
    live_stack: LiveStack, page_for: PageFor, axe_check: AxeCheck
) -> None:
    page = await page_for(None)
    elsewhere: list[str] = []
    refused: list[str] = []

    def requested(request: Request) -> None:
        if not request.url.startswith((live_stack.base_url, "data:")):
            elsewhere.append(request.url)

    def logged(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("request", requested)
    page.on("console", logged)
    async with live_stack.http() as http:
        document = (await http.get("/openapi.json")).json()
    operations = sum(len(item) for item in document["paths"].values())

    answered = await page.goto("/docs")

    assert answered is not None and answered.status == 200
    await expect(page.locator(".opblock")).to_have_count(operations)
    await expect(
        page.locator(".opblock-summary-path", has_text="/v1/incidents").first
    ).to_be_visible()
    assert elsewhere == []
    assert refused == []
    await axe_check(page)
