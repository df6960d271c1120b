"""`make screenshots`: the console's board, an incident page and the client's SOS page as PNGs.

Starts the browser tests' live stack (tests/helpers/live_stack.py: real Temporal, worker, API and
PostgreSQL), opens an incident through the JSON API, signs in as the clinician in Debian's
Chromium and writes docs/screenshots/board.png, incident.png and sos.png. A page the console
does not serve (or that errors) fails the run, naming it; nothing is written for it.

    PYTHONPATH=. .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from domain.vocabulary import Role
from tests.helpers.browser import chromium, new_context, sign_in
from tests.helpers.live_stack import LiveStack, live_stack

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# A phone-sized screen for the client's page, a desk-sized one for the console.
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class MissingPageError(RuntimeError):
    pass


async def _open_incident(stack: LiveStack) -> str:
    async with stack.http(Role.CLINICIAN) as http:
        opened = await http.post(
            "/v1/incidents",
            json={
                "client_id": stack.client_id,
                "crisis_type": "overdose",
                "summary": "Found unresponsive by roommate, breathing slowly",
                "location": {"zip": "97201"},
            },
        )
    if opened.status_code != 201:
        raise RuntimeError(f"opening the incident: {opened.status_code} {opened.text}")
    return str(opened.json()["id"])


async def _capture(page: Page, path: str, ready: str, png: Path) -> None:
    """Open `path`, wait for the element `ready` the page must show, write the PNG."""
    response = await page.goto(path)
    if response is None or response.status >= 400:
        status = "no response" if response is None else response.status
        raise MissingPageError(f"{path} is not served by the console ({status})")
    try:
        await page.locator(ready).first.wait_for(timeout=10_000)
    except PlaywrightError as error:
        raise MissingPageError(f"{path} does not show {ready!r}") from error
    await page.screenshot(path=png, full_page=True)
    print(f"wrote {png}")


async def take(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="crisisdesk-screens-") as workdir:
        async with live_stack(Path(workdir)) as stack, chromium() as browser:
            incident_id = await _open_incident(stack)
            console = await new_context(browser, stack.base_url, viewport=DESK)
            page = await console.new_page()
            try:
                await sign_in(page, stack.tokens[Role.CLINICIAN])
            except (AssertionError, PlaywrightError) as error:
                raise MissingPageError(f"signing in on /signin failed: {error}") from error
            await _capture(page, "/", f"[data-incident-id='{incident_id}']", out / "board.png")
            await _capture(
                page, f"/incidents/{incident_id}", "[data-timeline]", out / "incident.png"
            )
            phone = await new_context(browser, stack.base_url, viewport=PHONE, is_mobile=True)
            sos = await phone.new_page()
            await _capture(
                sos,
                f"/sos/{stack.device_token}",
                "button:has-text('Get help now')",
                out / "sos.png",
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(take(args.out))
    except MissingPageError as missing:
        print(f"screenshots: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
