"""CORS for the codec server, and for nothing else: the Temporal Web UI calls `/codec/*` from
its own origin with the supervisor's cookie (`credentials: "include"`), so exactly that origin
is allowed, with credentials; a preflight from any other origin is refused and any other
origin's answer carries no CORS header, so its page cannot read what was decoded."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

CODEC_PREFIX = "/codec/"
_ALLOWED_HEADERS = "Authorization, Authorization-Extras, Content-Type, X-Namespace"
_PREFLIGHT_CACHE_SECONDS = "600"


class CodecCors:
    """Answers `/codec/*` preflights from `origin` and marks its answers readable there."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self._app = app
        self._origin = origin

    def _cors_headers(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": self._origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(CODEC_PREFIX):
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        allowed = headers.get("origin") == self._origin
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(allowed, scope, receive, send)
            return
        if not allowed:
            await self._app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(self._cors_headers())
            await send(message)

        await self._app(scope, receive, send_with_cors)

    async def _preflight(self, allowed: bool, scope: Scope, receive: Receive, send: Send) -> None:
        if not allowed:
            refused = problem_response(
                403, "Forbidden", "this origin may not call the codec server"
            )
            await refused(scope, receive, send)
            return
        answer = Response(
            status_code=204,
            headers={
                **self._cors_headers(),
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
                "Access-Control-Max-Age": _PREFLIGHT_CACHE_SECONDS,
            },
        )
        await answer(scope, receive, send)
