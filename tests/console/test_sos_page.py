"""The client's SOS page (SPEC 10.3), in process: what a client's phone receives when it opens
`/sos/{device_token}` — the numbers to call in the page itself, the one button, the console's
strict headers — and what someone holding a dead link receives: still 911 and 988."""

from __future__ import annotations

import logging
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from domain.vocabulary import Role, Stage
from infra.logging import configure_logging
from infra.settings import LogFormat, Settings
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack

CRISIS_LINE_PHONE = "+15035550111"


class _Page(HTMLParser):
    """What a person sees of a page: its links (target and words) and its buttons' names."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.buttons: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_styles = 0
        self._open: tuple[str, str | None, list[str]] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "style" in found:
            self.inline_styles += 1
        if tag == "script":
            self.scripts.append(found)
        if tag in ("a", "button"):
            self._open = (tag, found.get("href"), [])

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is None or self._open[0] != tag:
            return
        words = " ".join("".join(self._open[2]).split())
        if tag == "a":
            self.links.append((self._open[1] or "", words))
        else:
            self.buttons.append(words)
        self._open = None

    @property
    def phones(self) -> list[str]:
        return [href.removeprefix("tel:") for href, _ in self.links if href.startswith("tel:")]


async def _device_token(stack: Stack, program: DemoProgram) -> tuple[str, str]:
    """A crisis line near the client's home zip, and a device of the client: (id, token)."""
    admin = program.auth(Role.ADMIN)
    line = await stack.http.post(
        "/v1/resources",
        json={
            "name": "Portland Crisis Line",
            "kind": "crisis_line",
            "phone": CRISIS_LINE_PHONE,
            "lat": 45.52,
            "lon": -122.68,
        },
        headers=admin,
    )
    assert line.status_code == 201, line.text
    device = await stack.http.post(
        f"/v1/clients/{program.client.id}/devices", json={"label": "Ana's phone"}, headers=admin
    )
    assert device.status_code == 201, device.text
    return device.json()["id"], device.json()["token"]


async def test_the_page_has_the_numbers_to_call_and_the_button(
    stack: Stack, program: DemoProgram
) -> None:
    _, token = await _device_token(stack, program)
    answer = await stack.http.get(f"/sos/{token}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    shown = _Page(answer.text)
    assert shown.phones == ["911", "988", CRISIS_LINE_PHONE]
    assert ("sms:988", "Text 988") in shown.links
    assert shown.buttons == ["Get help now"]
    assert "Portland Crisis Line" in answer.text
    # Nothing about the client on a screen others may see, and no staff console around it.
    for private in ("Ana", "Ruiz", "+15035550100", "/signout"):
        assert private not in answer.text


async def test_the_page_carries_the_consoles_strict_headers(
    stack: Stack, program: DemoProgram
) -> None:
    _, token = await _device_token(stack, program)
    answer = await stack.http.get(f"/sos/{token}")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    shown = _Page(answer.text)
    assert shown.inline_styles == 0
    assert shown.scripts and all(s.get("src") for s in shown.scripts)
    script = await stack.http.get(str(shown.scripts[0]["src"]))
    assert script.status_code == 200 and "/v1/sos" in script.text


@pytest.mark.parametrize("link", ["unknown", "revoked"])
async def test_a_dead_link_still_shows_911_and_988_without_a_button(
    stack: Stack, program: DemoProgram, link: str
) -> None:
    device_id, token = await _device_token(stack, program)
    if link == "revoked":
        revoked = await stack.http.post(
            f"/v1/clients/{program.client.id}/devices/{device_id}/revoke",
            headers=program.auth(Role.ADMIN),
        )
        assert revoked.status_code == 200, revoked.text
    else:
        token = "not-a-device-token-of-anyone"
    answer = await stack.http.get(f"/sos/{token}")
    assert answer.status_code == 404
    shown = _Page(answer.text)
    assert shown.phones == ["911", "988"]
    assert shown.buttons == []
    assert token not in answer.text
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.usefixtures("restore_logging")
async def test_the_device_token_in_the_path_is_not_logged(
    stack: Stack, program: DemoProgram, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, token = await _device_token(stack, program)
    # As production logs (to this test's captured stderr), uvicorn's access line included.
    configure_logging(Settings(log_format=LogFormat.JSON, log_level="DEBUG", data_dir=tmp_path))
    capsys.readouterr()
    for path in (f"/sos/{token}", f"/sos/{token}x"):
        await stack.http.get(path)
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "203.0.113.9:51234", "GET", path, "1.1", 200
        )
    logged = capsys.readouterr()
    assert logged.err.count("/sos/[redacted]") == 2
    assert token not in logged.err + logged.out


async def test_without_javascript_the_button_posts_the_same_press(
    stack: Stack, program: DemoProgram
) -> None:
    _, token = await _device_token(stack, program)
    answer = await stack.http.post(f"/sos/{token}", data={})
    assert answer.status_code == 200, answer.text
    assert "We are reaching your care team now" in answer.text
    assert _Page(answer.text).phones == ["911", "988", CRISIS_LINE_PHONE]

    async def opened() -> dict[str, Any] | None:
        listed = await stack.http.get(
            "/v1/incidents",
            params={"client_id": str(program.client.id)},
            headers=program.auth(Role.SUPERVISOR),
        )
        found: list[dict[str, Any]] = listed.json()["data"]
        return found[0] if found else None

    incident = await eventually(opened, "the SOS incident in the program's list")
    assert incident["stage"] == Stage.OPEN


async def test_a_press_on_a_link_revoked_since_still_shows_911_and_988(
    stack: Stack, program: DemoProgram
) -> None:
    device_id, token = await _device_token(stack, program)
    loaded = await stack.http.get(f"/sos/{token}")
    assert _Page(loaded.text).buttons == ["Get help now"]
    await stack.http.post(
        f"/v1/clients/{program.client.id}/devices/{device_id}/revoke",
        headers=program.auth(Role.ADMIN),
    )
    answer = await stack.http.post(f"/sos/{token}", data={})
    assert answer.status_code == 404
    assert _Page(answer.text).phones == ["911", "988"]
    assert _Page(answer.text).buttons == []
