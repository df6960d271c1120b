"""Debian's Chromium under Playwright (async API), signing in to the console, and axe-core.

Playwright never downloads a browser here: it launches the system binary that
scripts/ensure-chromium installs (`CRISISDESK_CHROMIUM` points elsewhere).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = Path(os.environ.get("CRISISDESK_CHROMIUM", "/usr/bin/chromium"))
# Root has no sandbox; the rest keeps Chromium off the network this machine does not have.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# axe-core impacts that fail a page (minor and moderate ones are reported, not fatal).
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium from the system binary."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: run scripts/ensure-chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(browser: Browser, base_url: str, **options: object) -> BrowserContext:
    """A fresh browser profile (no cookies) whose relative `goto` paths are on `base_url`."""
    return await browser.new_context(base_url=base_url, **options)  # type: ignore[arg-type]


async def sign_in(page: Page, token: str) -> None:
    """Sign in through the console's form on /signin, as a person pasting their token does;
    returns on the page the console sends them to, or raises with the page's refusal."""
    shown = await page.goto("/signin")
    if shown is None or not shown.ok:
        raise AssertionError(f"/signin answered {shown.status if shown else 'nothing'}")
    await page.fill("form[action='/signin'] input[name='token']", token)
    async with page.expect_navigation() as navigation:
        await page.click("form[action='/signin'] [type='submit']")
    answered = await navigation.value
    if page.url.rstrip("/").endswith("/signin"):
        status = answered.status if answered is not None else "no answer"
        said = await page.locator("[role='alert'], h1").all_inner_texts()
        raise AssertionError(f"sign-in refused ({status}): {' / '.join(said)}")


async def axe_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's serious and critical violations on the page as it is now."""
    results = await Axe().run(page)
    violations: list[dict[str, object]] = results.response["violations"]
    return [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]


async def axe_check(page: Page) -> None:
    """Fail, naming each rule and the elements it flagged, if axe-core finds any serious or
    critical violation on the page."""
    blocking = await axe_violations(page)
    if blocking:
        lines = [f"axe-core: {len(blocking)} serious or critical violation(s) on {page.url}"]
        for violation in blocking:
            nodes = violation.get("nodes")
            targets = [str(n.get("target")) for n in nodes] if isinstance(nodes, list) else []
            lines.append(
                f"- {violation['id']} ({violation['impact']}): {violation['help']} "
                f"at {', '.join(targets[:5])}"
            )
        raise AssertionError("\n".join(lines))
