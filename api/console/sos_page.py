"""The client's SOS page (`/sos/{device_token}`, SPEC 10.3): no sign-in, the device token in the
path is the credential. 911, 988 and the nearest crisis line are in the page as it is served, so
they show whatever happens next; the "Get help now" button (static/sos.js) presses
`POST /v1/sos` with the same token and the browser's location. Without JavaScript the button
posts its form here, and the same press is made (without a location). A token that is unknown,
revoked or cannot be checked still gets the numbers, never an empty error page, only no button.

The page shows nothing about the client (no name, no record): a phone is easily seen by others."""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter
from sqlalchemy.exc import DBAPIError

from api.console.rendering import page
from api.crisis_numbers import EMERGENCY_NUMBERS, CrisisNumber, crisis_numbers
from api.deps import RuntimeDep, SessionDep
from api.problems import Problem
from api.routes.sos import CALL_NOW
from api.routes.sos import sos as press_sos
from domain.models import Client
from infra.records import live_device_by_token
from infra.sos_outbox import sos_location

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("crisisdesk.console")

_US_NUMBER = re.compile(r"^\+1(\d{3})(\d{3})(\d{4})$")
# Numbers that also take texts.
_TEXTABLE = frozenset({"988"})
_NUMBERS = TypeAdapter(list[CrisisNumber])


@dataclass(frozen=True)
class NumberToCall:
    """A crisis number as the page shows it: the `tel:` target and the digits as read aloud."""

    name: str
    phone: str
    shown: str
    textable: bool
    distance_km: float | None


def _to_call(number: CrisisNumber) -> NumberToCall:
    us = _US_NUMBER.match(number.phone)
    shown = f"({us[1]}) {us[2]}-{us[3]}" if us else number.phone
    return NumberToCall(
        name=number.name,
        phone=number.phone,
        shown=shown,
        textable=number.phone in _TEXTABLE,
        distance_km=number.distance_km,
    )


@dataclass(frozen=True)
class PressAnswer:
    """What the page says after a press made without JavaScript."""

    message: str
    reached: bool


def _sos_page(
    request: Request,
    numbers: list[CrisisNumber],
    *,
    device_token: str | None,
    status_code: int,
    answer: PressAnswer | None = None,
) -> Response:
    answered = page(
        request,
        "sos.html",
        {
            "numbers": [_to_call(n) for n in numbers],
            "device_token": device_token,
            "call_now": CALL_NOW,
            "answer": answer,
        },
        status_code=status_code,
    )
    # The path is a credential: it is not passed on, not even to this site's own requests.
    answered.headers["Referrer-Policy"] = "no-referrer"
    return answered


@router.get("/sos/{device_token}")
async def sos_page(request: Request, device_token: str, session: SessionDep) -> Response:
    """The client's SOS page; 404 (with 911 and 988) for a token that is not a live device's."""
    try:
        device = await live_device_by_token(session, token=device_token)
        if device is None:
            return _sos_page(request, list(EMERGENCY_NUMBERS), device_token=None, status_code=404)
        client = await session.get(Client, device.client_id)
        assert client is not None
        numbers = await crisis_numbers(session, device.program_id, sos_location(None, client.zip))
    except DBAPIError as error:
        # The press could not be checked either: the numbers are all this page can give.
        log.error("sos_page.database_unavailable", error_type=type(error).__name__)
        return _sos_page(request, list(EMERGENCY_NUMBERS), device_token=None, status_code=503)
    return _sos_page(request, numbers, device_token=device_token, status_code=200)


@router.post("/sos/{device_token}")
async def sos_page_press(
    request: Request, device_token: str, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The button's form, posted by a browser without JavaScript: the press of `POST /v1/sos`."""
    try:
        device = await live_device_by_token(session, token=device_token)
    except DBAPIError as error:
        log.error("sos_page.database_unavailable", error_type=type(error).__name__)
        return _sos_page(request, list(EMERGENCY_NUMBERS), device_token=None, status_code=503)
    if device is None:
        return _sos_page(request, list(EMERGENCY_NUMBERS), device_token=None, status_code=404)
    try:
        pressed = await press_sos(device, session, runtime, Response(), None)
    except Problem as refused:
        sent = refused.extra.get("crisis_numbers")
        numbers = _NUMBERS.validate_python(sent) if sent else list(EMERGENCY_NUMBERS)
        message = str(refused.extra.get("message", CALL_NOW))
        # Pressed too often: the earlier presses are already reaching the care team.
        reached = refused.status == 429
        answer = PressAnswer(message=message, reached=reached)
        status_code = 200 if reached else refused.status
        return _sos_page(
            request, numbers, device_token=device_token, status_code=status_code, answer=answer
        )
    answer = PressAnswer(message=pressed.message, reached=True)
    return _sos_page(
        request, pressed.crisis_numbers, device_token=device_token, status_code=200, answer=answer
    )
