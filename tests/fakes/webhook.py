"""A local HTTP receiver for webhooks (a dispatch partner, or any callback target).

`WebhookReceiver` is an aiohttp server on 127.0.0.1 (a free port) in the test's event loop. It
records every POST (path, headers, raw body) and answers 200, or what a test asks for:

    receiver.url("/dispatch")          the URL to give to the code under test
    receiver.received                  every request (`ReceivedRequest`), in order
    receiver.answer_next(500, n=2)     the next n requests get that status
    receiver.stall_next(seconds)       the next request is answered only after `seconds`

The `webhook_receiver` fixture yields a started receiver and stops it after the test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from aiohttp import web

from tests.fakes import HOST, free_port


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[ReceivedRequest] = []
        self._answers: list[int] = []
        self._stalls: list[float] = []
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def answer_next(self, status: int, n: int = 1) -> None:
        self._answers.extend([status] * n)

    def stall_next(self, seconds: float) -> None:
        self._stalls.append(seconds)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        self.received.append(
            ReceivedRequest(
                path=request.path, headers=dict(request.headers), body=await request.read()
            )
        )
        if self._stalls:
            await asyncio.sleep(self._stalls.pop(0))
        status = self._answers.pop(0) if self._answers else 200
        return web.json_response({"received": len(self.received)}, status=status)


@pytest_asyncio.fixture(loop_scope="session")
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()
