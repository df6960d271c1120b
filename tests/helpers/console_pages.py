"""The console over HTTP, as a browser without JavaScript uses it: sign in with a staff token,
read a page, send its forms with the CSRF token the page carries, read what the page shows."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from html import unescape

import httpx

from domain.vocabulary import Role
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PROBLEM = re.compile(r'<div class="problem" role="alert">(.*?)</div>', re.S)
_TAGS = re.compile(r"<[^>]+>")


@contextlib.asynccontextmanager
async def browser_of(stack: Stack, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (its own cookie jar) signed in with `token`."""
    async with httpx.AsyncClient(transport=stack.http._transport, base_url="http://test") as b:
        answer = await b.post("/signin", data={"token": token})
        assert answer.status_code == 303, answer.text
        yield b


def signed_in(
    stack: Stack, program: DemoProgram, role: Role
) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    return browser_of(stack, program.tokens[role])


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def submit(
    browser: httpx.AsyncClient,
    page: str,
    action: str,
    data: dict[str, str | list[str]] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> httpx.Response:
    """Send a form of `page` (read first, for its CSRF token) to `action`; follows a redirect to
    the page that answers it, as a browser does."""
    token = csrf_of((await browser.get(page)).text)
    answer = await browser.post(action, data={"csrf_token": token, **(data or {})}, files=files)
    if answer.status_code == 303:
        return await browser.get(answer.headers["location"])
    return answer


def text_of(html: str) -> str:
    """What a reader sees: the page's text with its tags and extra spaces gone."""
    return " ".join(unescape(_TAGS.sub(" ", html)).split())


def problem_of(html: str) -> str | None:
    """The text of the page's `.problem` alert, if it shows one."""
    found = _PROBLEM.search(html)
    return text_of(found.group(1)) if found else None
