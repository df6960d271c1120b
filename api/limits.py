"""The request body limit: a body over 256 KiB is answered 413, whether it says its length
(`Content-Length`) or streams it in chunks without one."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

MAX_BODY_BYTES = 256 * 1024
TOO_LARGE = f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB"


class BodyTooLargeError(HTTPException):
    """Raised from `receive` once a streamed body passes the limit; an HTTPException, so the
    app's problem handler answers it (FastAPI re-raises those while it reads a body)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE)


class BodyLimitMiddleware:
    """Refuses a declared length over the limit before the app runs, and counts what a body
    without one streams, refusing once the count passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            status = 413 if declared.isdigit() else 400
            detail = TOO_LARGE if status == 413 else "Content-Length is not a number"
            title = "Content too large" if status == 413 else "Bad request"
            await problem_response(status, title, detail, headers={"Connection": "close"})(
                scope, receive, send
            )
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        await self.app(scope, counted, send)
