"""The client's one-click SOS button: opens an incident at once (or joins the one a recent
press opened), pages the on-call clinician through the workflow, and answers the client's
screen within a second with the crisis numbers for where they are.

It always answers with the numbers. A press Temporal cannot take within its budget is kept in
the database (`infra.sos_outbox`) and opened by the drain as soon as Temporal is back; only when
the database cannot keep it either is the answer 503, and that problem carries the numbers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Body, Depends, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.crisis_numbers import EMERGENCY_NUMBERS, CrisisNumber, crisis_numbers
from api.deps import RuntimeDep, SessionDep
from api.problems import Problem
from api.runtime import Runtime
from domain.incident import IncidentOpening, SosPress, workflow_id_for
from domain.location import Location
from domain.models import Client, ClientDevice, Incident
from domain.models.json_types import coordinates_or
from domain.models.text import NulFreeText
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType
from infra.records import live_device_by_token
from infra.sos_outbox import (
    keep_press,
    kept_sos_incident,
    on_call_clinician,
    sos_location,
    sos_opening,
)
from infra.sos_rate_limit import press_allowed
from infra.temporal import start_incident
from workflows.incident import IncidentWorkflow

router = APIRouter(prefix="/v1", tags=["sos"])
log = structlog.get_logger("crisisdesk.api")

_SOS_NAMESPACE = uuid.UUID("0b7f3c1e-5a2d-4e8f-9c61-3d2a7e5b9f14")
# A scheme of its own in the OpenAPI document: a device token is not a staff token.
_device_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="DeviceToken",
    description="A client device's token (issued by an admin), not a staff token",
)
# What Temporal gets to take a press before it is kept for the drain: the screen answers in ~1 s.
TEMPORAL_BUDGET = timedelta(milliseconds=600)
HELP_IS_COMING = (
    "We are reaching your care team now. Stay where you are if you can. "
    "If you are in immediate danger, call 911. You can also call or text 988."
)
CALL_NOW = "We could not reach your care team. If you are in danger, call 911, or call or text 988."


class SosRequest(NulFreeText):
    model_config = ConfigDict(extra="forbid", json_schema_extra=coordinates_or())

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _lat_and_lon_together(self) -> SosRequest:
        if self.lat is not None and self.lon is None:
            raise ValueError("lon: required with lat")
        if self.lon is not None and self.lat is None:
            raise ValueError("lat: required with lon")
        return self


class SosAnswer(BaseModel):
    incident_id: uuid.UUID
    joined: bool
    # Temporal could not take the press yet: it is kept, and the incident opens (the on-call
    # clinician is paged) as soon as Temporal is back.
    queued: bool = False
    message: str
    crisis_numbers: list[CrisisNumber]


def _problem(
    status_code: int,
    title: str,
    detail: str,
    numbers: Sequence[CrisisNumber],
    *,
    message: str = CALL_NOW,
    headers: dict[str, str] | None = None,
) -> Problem:
    """Every refusal of a press still shows the client whom to call."""
    return Problem(
        status_code,
        title,
        detail,
        headers=headers,
        message=message,
        crisis_numbers=[n.model_dump() for n in numbers],
    )


def _out_of_reach(numbers: Sequence[CrisisNumber]) -> Problem:
    return _problem(
        503,
        "Service unavailable",
        "the press could not be recorded; call the crisis numbers",
        numbers,
        headers={"Retry-After": "5"},
    )


async def _device(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_device_bearer)],
) -> ClientDevice:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise _problem(
            401, "Unauthorized", "a device token is required", EMERGENCY_NUMBERS, headers=challenge
        )
    try:
        device = await live_device_by_token(session, token=credentials.credentials)
    except DBAPIError as error:
        log.error("sos.database_unavailable", error_type=type(error).__name__)
        raise _out_of_reach(EMERGENCY_NUMBERS) from None
    if device is None:
        raise _problem(
            401,
            "Unauthorized",
            "the device token is not valid",
            EMERGENCY_NUMBERS,
            headers=challenge,
        )
    return device


async def _rate_limited(session: AsyncSession, device_id: uuid.UUID, at: datetime) -> bool:
    """Over the limit shared by every API process; a count the database cannot keep limits
    nothing (the press goes on, and is answered)."""
    try:
        return not await press_allowed(session, device_id, at)
    except DBAPIError as error:
        log.error("sos.rate_limit_unavailable", error_type=type(error).__name__)
        with suppress(DBAPIError):
            await session.rollback()
        return False


@dataclass
class _Press:
    """Where a press stands: the incident it opens (of the window's `generation`), or the one
    it joins."""

    press: SosPress
    opening: IncidentOpening | None
    joined: uuid.UUID | None
    bucket: int = 0
    generation: int = 0

    @property
    def incident_id(self) -> uuid.UUID:
        if self.joined is not None:
            return self.joined
        assert self.opening is not None
        return self.opening.incident_id


@router.post(
    "/sos",
    status_code=status.HTTP_201_CREATED,
    responses={
        202: {
            "model": SosAnswer,
            "description": "Temporal could not take the press now: it is kept, and the "
            "incident opens as soon as Temporal is back (`queued`)",
        }
    },
)
async def sos(
    device: Annotated[ClientDevice, Depends(_device)],
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    body: Annotated[SosRequest | None, Body()] = None,
) -> SosAnswer:
    """Authenticated by the client's device token (not a staff token).

    201 when the incident opened or the press joined it; 202 when Temporal could not take the
    press: it is kept and opened as soon as Temporal is back. Every answer, a problem too,
    carries the crisis numbers (911, 988, and the nearest crisis line when it can be read)."""
    now = datetime.now(UTC)
    if await _rate_limited(session, device.id, now):
        raise _problem(
            429,
            "Too many requests",
            "the button was pressed too often; help is coming",
            EMERGENCY_NUMBERS,
            message=HELP_IS_COMING,
        )
    position = (
        Location(lat=body.lat, lon=body.lon, accuracy_m=body.accuracy_m)
        if body is not None and body.lat is not None and body.lon is not None
        else None
    )
    numbers = list(EMERGENCY_NUMBERS)
    try:
        client = await session.get(Client, device.client_id)
        assert client is not None
        location = sos_location(position, client.zip)
        numbers = await crisis_numbers(session, device.program_id, location)
        press = await _press(session, device, client, location, SosPress(at=now, location=position))
        # Ends the read: no transaction stays open while Temporal is waited for (on SQLite, a
        # snapshot that old could not be turned into the write that keeps the press).
        await session.commit()
    except DBAPIError as error:
        log.error("sos.database_unavailable", error_type=type(error).__name__)
        raise _out_of_reach(numbers) from None
    if press is None:
        raise _problem(503, "Service unavailable", "the program has no clinician to page", numbers)
    taken = await _temporal_takes(runtime, press)
    if not taken:
        await _keep(session, device, press, numbers)
        response.status_code = status.HTTP_202_ACCEPTED
    return SosAnswer(
        incident_id=press.incident_id,
        joined=press.joined is not None,
        queued=not taken,
        message=HELP_IS_COMING,
        crisis_numbers=numbers,
    )


async def _temporal_takes(runtime: Runtime, press: _Press) -> bool:
    """Whether Temporal took the press (opened its incident, or joined it) within the budget."""
    why = "not_connected"
    if runtime.temporal is not None:
        try:
            await asyncio.wait_for(
                _reach_incident(runtime.temporal, press, runtime.settings.task_queue),
                TEMPORAL_BUDGET.total_seconds(),
            )
            return True
        except Exception as error:  # whatever keeps Temporal from taking it, the press is kept
            why = type(error).__name__
    log.warning(
        "sos.kept_for_drain",
        incident_id=str(press.incident_id),
        workflow_id=workflow_id_for(press.incident_id),
        error_type=why,
    )
    return False


async def _press(
    session: AsyncSession,
    device: ClientDevice,
    client: Client,
    location: Location | None,
    press: SosPress,
) -> _Press | None:
    """Join the client's SOS incident of the join window (opened, or kept for the drain), or
    make the opening of the next one; None when the program has nobody to page."""
    protocol = protocol_for(CrisisType.OTHER)
    since = press.at - protocol.sos_join_window
    joined = await _recent_sos_incident(session, client.id, since) or await kept_sos_incident(
        session, client.id, since
    )
    if joined is not None:
        return _Press(press=press, opening=None, joined=joined)
    owner = await on_call_clinician(session, device.program_id, press.at)
    if owner is None:
        return None
    # Two presses racing in one window open one incident (the id is the window's).
    bucket = int(press.at.timestamp() // protocol.sos_join_window.total_seconds())
    generation = await _first_free_generation(session, client.id, bucket)
    opening = sos_opening(
        incident_id=_sos_incident_id(client.id, bucket, generation),
        program_id=device.program_id,
        client_id=client.id,
        location=location,
        owner_id=owner.id,
        pressed_at=press.at,
    )
    return _Press(press=press, opening=opening, joined=None, bucket=bucket, generation=generation)


def _sos_incident_id(client_id: uuid.UUID, bucket: int, generation: int) -> uuid.UUID:
    suffix = f":{generation}" if generation else ""
    return uuid.uuid5(_SOS_NAMESPACE, f"{client_id}:{bucket}{suffix}")


async def _first_free_generation(session: AsyncSession, client_id: uuid.UUID, bucket: int) -> int:
    """A press after the window's incident was closed or cancelled opens the next generation's;
    skipping the ended ones known here keeps a press Temporal cannot take under a free id."""
    generation = 0
    while True:
        incident = await session.get(Incident, _sos_incident_id(client_id, bucket, generation))
        if incident is None or incident.ended_at is None:
            return generation
        generation += 1


async def _reach_incident(temporal: TemporalClient, press: _Press, task_queue: str) -> None:
    """Open the press's incident, or signal the press to the one it joins. `press` follows
    where it stands, so a press cut short by the budget is kept under the right incident."""
    while press.opening is not None:  # bounded by the rate limit on presses
        try:
            await start_incident(temporal, press.opening, task_queue=task_queue)
            return
        except WorkflowAlreadyStartedError:
            incident_id = press.opening.incident_id
            handle = temporal.get_workflow_handle(workflow_id_for(incident_id))
            if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                press.joined, press.opening = incident_id, None
                break
            # That id's incident has ended (its projection had not said so yet).
            press.generation += 1
            next_id = _sos_incident_id(press.opening.client_id, press.bucket, press.generation)
            press.opening = press.opening.model_copy(update={"incident_id": next_id})
    assert press.joined is not None
    joined = temporal.get_workflow_handle_for(IncidentWorkflow.run, workflow_id_for(press.joined))
    await joined.signal(IncidentWorkflow.sos_pressed, press.press)


async def _keep(
    session: AsyncSession, device: ClientDevice, press: _Press, numbers: list[CrisisNumber]
) -> None:
    try:
        keep_press(
            session,
            device=device,
            incident_id=press.incident_id,
            joins=press.joined is not None,
            position=press.press.location,
            pressed_at=press.press.at,
        )
        await session.commit()
    except DBAPIError as error:
        log.error("sos.database_unavailable", error_type=type(error).__name__)
        raise _out_of_reach(numbers) from None


async def _recent_sos_incident(
    session: AsyncSession, client_id: uuid.UUID, since: datetime
) -> uuid.UUID | None:
    rows = await session.exec(
        select(Incident)
        .where(Incident.client_id == client_id)
        .where(Incident.opened_at >= since)
        .where(col(Incident.ended_at).is_(None))
        .order_by(col(Incident.opened_at).desc())
    )
    for row in rows.all():
        if row.snapshot.get("origin") == "sos":
            return row.id
    return None
