"""The client's one-click SOS button: opens an incident at once (or joins the one a recent
press opened), pages the on-call clinician through the workflow, and answers the client's
screen within a second with the crisis numbers for where they are."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict, deque
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlmodel import col, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.auth import token_hash
from api.deps import RuntimeDep, SessionDep, TemporalDep
from api.problems import Problem
from domain.decisions import Actor, Location
from domain.geo import Coordinates, locate
from domain.incident import IncidentOpening, SosPress, workflow_id_for
from domain.models import Client, ClientDevice, Incident, Program, Staff
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, ResourceKind, Role
from infra.directory import nearest_resources
from infra.temporal import start_incident
from workflows.incident import IncidentWorkflow

router = APIRouter(prefix="/v1", tags=["sos"])

_SOS_NAMESPACE = uuid.UUID("0b7f3c1e-5a2d-4e8f-9c61-3d2a7e5b9f14")
_device_bearer = HTTPBearer(auto_error=False, description="Client device token")
# Per device, per API process: enough to stop a stuck button, never a real second press.
RATE_LIMIT_PRESSES = 6
RATE_LIMIT_SECONDS = 60.0
_presses: dict[uuid.UUID, deque[float]] = defaultdict(deque)


class SosRequest(BaseModel):
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)


class CrisisNumber(BaseModel):
    name: str
    phone: str
    distance_km: float | None = None


class SosAnswer(BaseModel):
    incident_id: uuid.UUID
    joined: bool
    message: str
    crisis_numbers: list[CrisisNumber]


async def _device(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_device_bearer)],
) -> ClientDevice:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Problem(401, "Unauthorized", "a device token is required", headers=challenge)
    found = await session.exec(
        select(ClientDevice).where(ClientDevice.token_hash == token_hash(credentials.credentials))
    )
    device = found.first()
    if device is None or device.revoked_at is not None:
        raise Problem(401, "Unauthorized", "the device token is not valid", headers=challenge)
    return device


def _rate_limited(device_id: uuid.UUID) -> bool:
    now = time.monotonic()
    window = _presses[device_id]
    while window and now - window[0] > RATE_LIMIT_SECONDS:
        window.popleft()
    if len(window) >= RATE_LIMIT_PRESSES:
        return True
    window.append(now)
    return False


@router.post("/sos", status_code=status.HTTP_201_CREATED)
async def sos(
    device: Annotated[ClientDevice, Depends(_device)],
    session: SessionDep,
    temporal: TemporalDep,
    runtime: RuntimeDep,
    body: Annotated[SosRequest | None, Body()] = None,
) -> SosAnswer:
    """Authenticated by the client's device token (not a staff token)."""
    if _rate_limited(device.id):
        raise Problem(429, "Too many requests", "the button was pressed too often; help is coming")
    client = await session.get(Client, device.client_id)
    program = await session.get(Program, device.program_id)
    assert client is not None and program is not None
    located = (
        Location(lat=body.lat, lon=body.lon, accuracy_m=body.accuracy_m)
        if body is not None and body.lat is not None and body.lon is not None
        else None
    )
    # Without the device's position, the client's home zip is the best first guess.
    location = located or (Location(zip=client.zip) if client.zip else None)
    protocol = protocol_for(CrisisType.OTHER)
    now = datetime.now(UTC)
    joined = await _recent_sos_incident(session, client.id, now - protocol.sos_join_window)
    bucket = int(now.timestamp() // protocol.sos_join_window.total_seconds())
    press = SosPress(at=now, location=located)
    incident_id = joined or uuid.uuid5(_SOS_NAMESPACE, f"{client.id}:{bucket}")
    if joined is None:
        owner = await _on_call_clinician(session, program.id)
        # Two presses racing in one window open one incident (the id is the window's); a press
        # after that window's incident was closed or cancelled opens the next one.
        opening = IncidentOpening(
            incident_id=incident_id,
            program_id=program.id,
            client_id=client.id,
            crisis_type=CrisisType.OTHER,
            summary="SOS pressed by the client",
            location=location,
            owner_id=owner.id,
            opened_by=Actor(staff_id=str(owner.id), role="system", program_id=program.id),
            opened_at=now,
            protocol=protocol,
            origin="sos",
        )
        for generation in itertools.count(1):  # bounded by the rate limit on presses
            try:
                await start_incident(temporal, opening, task_queue=runtime.settings.task_queue)
                break
            except WorkflowAlreadyStartedError:
                handle = temporal.get_workflow_handle(workflow_id_for(incident_id))
                if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                    joined = incident_id
                    break
                incident_id = uuid.uuid5(_SOS_NAMESPACE, f"{client.id}:{bucket}:{generation}")
                opening = opening.model_copy(update={"incident_id": incident_id})
    if joined is not None:
        handle = temporal.get_workflow_handle_for(IncidentWorkflow.run, workflow_id_for(joined))
        await handle.signal(IncidentWorkflow.sos_pressed, press)
    return SosAnswer(
        incident_id=incident_id,
        joined=joined is not None,
        message=(
            "We are reaching your care team now. Stay where you are if you can. "
            "If you are in immediate danger, call 911. You can also call or text 988."
        ),
        crisis_numbers=await _crisis_numbers(session, program.id, location),
    )


async def _recent_sos_incident(
    session: SessionDep, client_id: uuid.UUID, since: datetime
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


async def _on_call_clinician(session: SessionDep, program_id: uuid.UUID) -> Staff:
    """The on-call clinician; failing one, an on-call supervisor; failing that, any clinician."""
    staff = (
        await session.exec(
            select(Staff)
            .where(Staff.program_id == program_id)
            .where(col(Staff.active).is_(True))
            .order_by(col(Staff.created_at))
        )
    ).all()
    for wanted in (
        lambda s: s.role == Role.CLINICIAN and s.on_call,
        lambda s: s.role == Role.SUPERVISOR and s.on_call,
        lambda s: s.role in (Role.CLINICIAN, Role.SUPERVISOR),
    ):
        found = next((s for s in staff if wanted(s)), None)
        if found is not None:
            return found
    raise Problem(503, "Service unavailable", "the program has no clinician to page")


async def _crisis_numbers(
    session: SessionDep, program_id: uuid.UUID, location: Location | None
) -> list[CrisisNumber]:
    numbers = [
        CrisisNumber(name="Emergency services", phone="911"),
        CrisisNumber(name="988 Suicide & Crisis Lifeline", phone="988"),
    ]
    origin: Coordinates | None = (
        await asyncio.to_thread(locate, location) if location is not None else None
    )
    if origin is not None:
        nearest = await nearest_resources(
            session,
            program_id=program_id,
            origin=origin,
            kinds={ResourceKind.CRISIS_LINE, ResourceKind.CRISIS_CENTER},
            open_at=None,
            limit=1,
        )
        numbers += [
            CrisisNumber(name=r.name, phone=r.phone, distance_km=round(km, 1))
            for r, km in nearest
            if r.phone not in ("911", "988")
        ]
    return numbers
