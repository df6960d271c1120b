"""A local HTTP server that answers as Twilio's REST API does, for Messages and Calls.

`FakeTwilio` is an aiohttp server on 127.0.0.1 (a free port) in the test's own event loop. Point
CrisisDesk at it with `Settings(**fake.settings_fields(), ...)`: the real Twilio SDK then sends
its real requests here instead of https://api.twilio.com.

It checks what Twilio checks first: the account in the path and basic auth (401, code 20003),
the required parameters (To, From, Body / Twiml or Url), an E.164 `To` (400, code 21211). It
answers 201 with Twilio's JSON (`sid` "SM…" or "CA…", `status` "queued").

    fake.messages / fake.calls   accepted requests (`TwilioRequest`: sid, form, headers)
    fake.requests                every request that reached it, accepted or not
    fake.fail_next(n, status)    the next n requests fail with `status` (503, 429, ...)
    fake.fail_with_code(21610)   the next request fails with that Twilio error code
    fake.refuse(to, 21610, kind="message")   every text ("call", None: both) to `to` fails so
    fake.refuse_all(21211)       every request (of `kind`, as for `refuse`) fails so, any number
    fake.stall_next(seconds)     the next request is accepted, but answered only after `seconds`
    await fake.down() / up()     stop listening (connection refused) / listen again, same port
    await fake.send_status(req, "delivered")   Twilio's signed status callback for a request

The `fake_twilio` fixture yields a started server and stops it after the test; register it with
`pytest_plugins = ["tests.fakes.twilio"]` in a conftest, or bind it in a test module.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import httpx
import pytest_asyncio
from aiohttp import BasicAuth, web
from twilio.request_validator import RequestValidator

from tests.fakes import HOST, free_port

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
FROM_NUMBER = "+15005550006"
API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Twilio's codes for errors that are only an HTTP status.
_HTTP_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required",
    21603: "A 'From' phone number is required",
    21604: "A 'To' phone number is required",
    21205: "Url or Twiml parameter is required",
    21610: "Attempt to send to unsubscribed recipient",
    21216: "Call blocked by Twilio",
}


@dataclass
class TwilioRequest:
    """One create request as Twilio received it: `form` holds To, From, Body or Twiml,
    StatusCallback, ...; `headers` the HTTP headers (Authorization included)."""

    kind: str
    sid: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Failure:
    status: int
    code: int


class FakeTwilio:
    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        from_number: str = FROM_NUMBER,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.port = free_port()
        self.messages: list[TwilioRequest] = []
        self.calls: list[TwilioRequest] = []
        self.requests: list[TwilioRequest] = []
        self._failures: list[_Failure] = []
        self._refused: dict[tuple[str, str | None], _Failure] = {}
        self._refused_all: dict[str | None, _Failure] = {}
        self._stalls: list[float] = []
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def settings_fields(self) -> dict[str, Any]:
        return {
            "twilio_account_sid": self.account_sid,
            "twilio_auth_token": self.auth_token,
            "twilio_from": self.from_number,
            "twilio_base_url": self.base_url,
        }

    # --- programmable failures --------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        """The next `n` requests get `status` with Twilio's error body."""
        code = _HTTP_CODES.get(status, status)
        self._failures.extend(_Failure(status, code) for _ in range(n))

    def fail_with_code(self, code: int, status: int = 400) -> None:
        """The next request gets Twilio error `code` (21211 invalid number, 21610 unsubscribed)."""
        self._failures.append(_Failure(status, code))

    def refuse(self, to: str, code: int, *, kind: str | None = None, status: int = 400) -> None:
        """Every request to the number `to` of `kind` ("message" or "call"; both when None) gets
        Twilio error `code`, as a recipient who texted STOP (21610) or a blocked number does."""
        self._refused[(to, kind)] = _Failure(status, code)

    def refuse_all(self, code: int, *, kind: str | None = None, status: int = 400) -> None:
        """Every request of `kind` ("message" or "call"; both when None), to any number, gets
        Twilio error `code`: a provider that will never deliver anything (21211 everywhere)."""
        self._refused_all[kind] = _Failure(status, code)

    def stall_next(self, seconds: float) -> None:
        """The next request is processed (and recorded) but answered only after `seconds`."""
        self._stalls.append(seconds)

    async def down(self) -> None:
        """Stop listening: the SDK now gets connection refused."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def up(self) -> None:
        """Listen again on the same port."""
        if self._runner is None:
            app = web.Application()
            prefix = f"/{API_VERSION}/Accounts/{{sid}}"
            app.router.add_post(f"{prefix}/Messages.json", self._create_message)
            app.router.add_post(f"{prefix}/Calls.json", self._create_call)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await self._runner.setup()
        if self._site is None:
            self._site = web.TCPSite(self._runner, HOST, self.port, reuse_address=True)
            await self._site.start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None

    # --- status callbacks -------------------------------------------------------------------

    async def send_status(
        self,
        request: TwilioRequest,
        status: str,
        *,
        error_code: int | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """POST Twilio's status callback for `request` to its StatusCallback URL, signed with
        `X-Twilio-Signature` as Twilio signs it. `http` lets the callback reach an in-process
        app (an `httpx.ASGITransport` client); by default it goes over the network."""
        url = request.form["StatusCallback"]
        params = {
            "AccountSid": self.account_sid,
            "From": request.form["From"],
            "To": request.form["To"],
            "ApiVersion": API_VERSION,
        }
        if request.kind == "message":
            params |= {
                "MessageSid": request.sid,
                "MessageStatus": status,
                "SmsSid": request.sid,
                "SmsStatus": status,
            }
        else:
            params |= {"CallSid": request.sid, "CallStatus": status, "Direction": "outbound-api"}
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature}
        if http is not None:
            return await http.post(url, data=params, headers=headers)
        async with httpx.AsyncClient() as client:
            return await client.post(url, data=params, headers=headers)

    # --- the API ----------------------------------------------------------------------------

    async def _create_message(self, request: web.Request) -> web.Response:
        return await self._create(request, "message", "SM", self.messages)

    async def _create_call(self, request: web.Request) -> web.Response:
        return await self._create(request, "call", "CA", self.calls)

    async def _create(
        self, request: web.Request, kind: str, prefix: str, accepted: list[TwilioRequest]
    ) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        recorded = TwilioRequest(
            kind=kind, sid=f"{prefix}{uuid.uuid4().hex}", form=form, headers=dict(request.headers)
        )
        self.requests.append(recorded)
        refusal = self._refusal(request, kind, form)
        if refusal is not None:
            return _error(refusal)
        accepted.append(recorded)
        if self._stalls:
            await asyncio.sleep(self._stalls.pop(0))
        return web.json_response(self._resource(recorded, request.match_info["sid"]), status=201)

    def _refusal(self, request: web.Request, kind: str, form: dict[str, str]) -> _Failure | None:
        if self._failures:
            return self._failures.pop(0)
        auth = request.headers.get("Authorization", "")
        try:
            credentials = BasicAuth.decode(auth)
        except ValueError:
            return _Failure(401, 20003)
        if (credentials.login, credentials.password) != (self.account_sid, self.auth_token):
            return _Failure(401, 20003)
        if request.match_info["sid"] != self.account_sid:
            return _Failure(404, 20404)
        if not form.get("To"):
            return _Failure(400, 21604)
        if not form.get("From"):
            return _Failure(400, 21603)
        if kind == "message" and not form.get("Body"):
            return _Failure(400, 21602)
        if kind == "call" and not (form.get("Twiml") or form.get("Url")):
            return _Failure(400, 21205)
        if not _E164.match(form["To"]):
            return _Failure(400, 21211)
        return (
            self._refused.get((form["To"], kind))
            or self._refused.get((form["To"], None))
            or self._refused_all.get(kind)
            or self._refused_all.get(None)
        )

    def _resource(self, recorded: TwilioRequest, account_sid: str) -> dict[str, Any]:
        collection = "Messages" if recorded.kind == "message" else "Calls"
        now = formatdate(usegmt=True)
        resource: dict[str, Any] = {
            "sid": recorded.sid,
            "account_sid": account_sid,
            "to": recorded.form["To"],
            "from": recorded.form["From"],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "uri": f"/{API_VERSION}/Accounts/{account_sid}/{collection}/{recorded.sid}.json",
        }
        if recorded.kind == "message":
            resource |= {
                "body": recorded.form["Body"],
                "num_segments": "1",
                "error_code": None,
                "error_message": None,
            }
        return resource


def _error(failure: _Failure) -> web.Response:
    return web.Response(
        status=failure.status,
        content_type="application/json",
        text=json.dumps(
            {
                "code": failure.code,
                "message": _MESSAGES.get(failure.code, "Error"),
                "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
                "status": failure.status,
            }
        ),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.up()
    yield fake
    await fake.close()
