"""SOS presses that Temporal could not take: how a press becomes an incident's opening, keeping
it in the outbox, and the drain that opens what was kept as soon as Temporal is back.

Every API process runs a `SosOutboxDrain`. It claims one kept press at a time with a conditional
update that takes a lease (the same on SQLite and PostgreSQL), so replicas never deliver a press
at the same time and a drain that died mid-way frees its press when the lease runs out. Delivery
is idempotent: the workflow id comes from the stored incident id, and a start that finds it
already started is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client as TemporalClient
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.decisions import Actor
from domain.incident import IncidentOpening, SosPress, workflow_id_for
from domain.location import Location
from domain.models import Client, ClientDevice, Incident, SosOutboxPress, Staff
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from infra.db import transaction
from infra.oncall import on_call_staff
from infra.temporal import start_incident
from workflows.incident import IncidentWorkflow

log = structlog.get_logger("crisisdesk.sos")

DRAIN_INTERVAL = timedelta(seconds=1)
DELIVERY_BUDGET = timedelta(seconds=5)
# Longer than a delivery can take, so a lease only runs out when its drain is gone.
CLAIM_LEASE = timedelta(seconds=30)
DRAIN_BATCH = 50
_TEMPORAL_DOWN = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})


async def on_call_clinician(
    session: AsyncSession, program_id: uuid.UUID, at: datetime
) -> Staff | None:
    """The clinician on call at `at` (the schedule, else the flag); failing one, the on-call
    supervisor; failing that, any active clinician or supervisor (the oldest)."""
    for role in (Role.CLINICIAN, Role.SUPERVISOR):
        on_call = await on_call_staff(session, program_id, role, at)
        if on_call.staff:
            return on_call.staff[0]
    return (
        await session.exec(
            select(Staff)
            .where(Staff.program_id == program_id)
            .where(col(Staff.active).is_(True))
            .where(col(Staff.role).in_([Role.CLINICIAN, Role.SUPERVISOR]))
            .order_by(col(Staff.created_at))
        )
    ).first()


def sos_location(position: Location | None, client_zip: str | None) -> Location | None:
    """Where help goes: the device's position; without it, the client's home zip."""
    return position or (Location(zip=client_zip) if client_zip else None)


def sos_opening(
    *,
    incident_id: uuid.UUID,
    program_id: uuid.UUID,
    client_id: uuid.UUID,
    location: Location | None,
    owner_id: uuid.UUID,
    pressed_at: datetime,
) -> IncidentOpening:
    """The opening of an SOS incident: crisis type `other` until assessed, owned by the on-call
    clinician, opened when the client pressed (a kept press opens late, its clock does not)."""
    return IncidentOpening(
        incident_id=incident_id,
        program_id=program_id,
        client_id=client_id,
        crisis_type=CrisisType.OTHER,
        summary="SOS pressed by the client",
        location=location,
        owner_id=owner_id,
        opened_by=Actor(staff_id=str(owner_id), role="system", program_id=program_id),
        opened_at=pressed_at,
        protocol=protocol_for(CrisisType.OTHER),
        origin="sos",
    )


def keep_press(
    session: AsyncSession,
    *,
    device: ClientDevice,
    incident_id: uuid.UUID,
    joins: bool,
    position: Location | None,
    pressed_at: datetime,
) -> SosOutboxPress:
    """Keep a press Temporal could not take, for the drain; the caller commits."""
    kept = SosOutboxPress(
        incident_id=incident_id,
        joins=joins,
        device_id=device.id,
        client_id=device.client_id,
        program_id=device.program_id,
        location=position.model_dump(mode="json", exclude_none=True) if position else None,
        pressed_at=pressed_at,
    )
    session.add(kept)
    return kept


async def kept_sos_incident(
    session: AsyncSession, client_id: uuid.UUID, since: datetime
) -> uuid.UUID | None:
    """The incident a kept press of the client since `since` opens (or opened), unless it ended."""
    kept = await session.exec(
        select(SosOutboxPress)
        .where(SosOutboxPress.client_id == client_id)
        .where(col(SosOutboxPress.joins).is_(False))
        .where(SosOutboxPress.pressed_at >= since)
        .order_by(col(SosOutboxPress.pressed_at).desc())
    )
    for press in kept.all():
        incident = await session.get(Incident, press.incident_id)
        if incident is None or incident.ended_at is None:
            return press.incident_id
    return None


class _OpeningNotDeliveredError(Exception):
    """A kept join whose incident is itself still kept: it waits for the opening."""


class _NoClinicianError(Exception):
    """The program has nobody to own the incident (the route said so when it was pressed)."""


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(col(SosOutboxPress.claimed_until).is_(None), col(SosOutboxPress.claimed_until) < now)


def _temporal_is_down(error: Exception) -> bool:
    if isinstance(error, RPCError):
        return error.status in _TEMPORAL_DOWN
    return isinstance(error, TimeoutError | RPCTimeoutOrCancelledError)


class SosOutboxDrain:
    """Opens kept presses through the same start as the route; `temporal` answers the process's
    client, or None while it is not connected yet; `budget` bounds each delivery."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        temporal: Callable[[], TemporalClient | None],
        *,
        task_queue: str,
        budget: timedelta = DELIVERY_BUDGET,
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._task_queue = task_queue
        self._budget = budget

    async def run(self) -> None:
        """Drain until cancelled."""
        while True:
            try:
                await self.drain_once()
            except Exception as error:  # the database is down: the next pass tries again
                log.warning("sos_outbox.drain_failed", error_type=type(error).__name__)
            await asyncio.sleep(DRAIN_INTERVAL.total_seconds())

    async def drain_once(self) -> int:
        """Deliver the kept presses no other drain holds, openings first; answers how many."""
        temporal = self._temporal()
        if temporal is None:
            return 0
        async with self._sessions() as session:
            waiting = (
                await session.exec(
                    select(SosOutboxPress.id)
                    .where(col(SosOutboxPress.opened_at).is_(None))
                    .where(_claimable(datetime.now(UTC)))
                    .order_by(col(SosOutboxPress.joins), col(SosOutboxPress.pressed_at))
                    .limit(DRAIN_BATCH)
                )
            ).all()
        delivered = 0
        for press_id in waiting:
            press = await self._claim(press_id)
            if press is None:
                continue  # another drain holds it, or has delivered it
            try:
                await asyncio.wait_for(self._deliver(temporal, press), self._budget.total_seconds())
            except Exception as error:  # kept for the next pass, whatever went wrong
                await self._release(press_id)
                log.warning(
                    "sos_outbox.not_delivered",
                    press_id=str(press_id),
                    incident_id=str(press.incident_id),
                    workflow_id=workflow_id_for(press.incident_id),
                    error_type=type(error).__name__,
                )
                if _temporal_is_down(error):
                    break
            else:
                await self._mark_opened(press_id)
                log.info(
                    "sos_outbox.delivered",
                    press_id=str(press_id),
                    incident_id=str(press.incident_id),
                    workflow_id=workflow_id_for(press.incident_id),
                    joins=press.joins,
                )
                delivered += 1
        return delivered

    async def _deliver(self, temporal: TemporalClient, press: SosOutboxPress) -> None:
        position = Location.model_validate(press.location) if press.location else None
        if press.joins:
            await self._join(temporal, press, position)
            return
        async with self._sessions() as session:
            client = await session.get(Client, press.client_id)
            owner = await on_call_clinician(session, press.program_id, press.pressed_at)
        assert client is not None  # a foreign key
        if owner is None:
            raise _NoClinicianError
        opening = sos_opening(
            incident_id=press.incident_id,
            program_id=press.program_id,
            client_id=press.client_id,
            location=sos_location(position, client.zip),
            owner_id=owner.id,
            pressed_at=press.pressed_at,
        )
        # Already started: an earlier attempt (the route's late start, or a drain's) opened it.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start_incident(temporal, opening, task_queue=self._task_queue)

    async def _join(
        self, temporal: TemporalClient, press: SosOutboxPress, position: Location | None
    ) -> None:
        handle = temporal.get_workflow_handle_for(
            IncidentWorkflow.run, workflow_id_for(press.incident_id)
        )
        try:
            await handle.signal(
                IncidentWorkflow.sos_pressed, SosPress(at=press.pressed_at, location=position)
            )
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            async with self._sessions() as session:
                opening = await session.exec(
                    select(SosOutboxPress.id)
                    .where(SosOutboxPress.incident_id == press.incident_id)
                    .where(col(SosOutboxPress.joins).is_(False))
                    .where(col(SosOutboxPress.opened_at).is_(None))
                )
                if opening.first() is not None:
                    raise _OpeningNotDeliveredError from None
            # The incident ended before Temporal came back: the press came while it was open.
            log.warning(
                "sos_outbox.incident_ended",
                press_id=str(press.id),
                incident_id=str(press.incident_id),
                workflow_id=workflow_id_for(press.incident_id),
            )

    async def _claim(self, press_id: uuid.UUID) -> SosOutboxPress | None:
        now = datetime.now(UTC)
        async with transaction(self._sessions) as session:
            claimed = await session.exec(
                update(SosOutboxPress)
                .where(col(SosOutboxPress.id) == press_id)
                .where(col(SosOutboxPress.opened_at).is_(None))
                .where(_claimable(now))
                .values(
                    claimed_until=now + CLAIM_LEASE,
                    attempts=col(SosOutboxPress.attempts) + 1,
                )
            )
            if claimed.rowcount != 1:
                return None
            return await session.get(SosOutboxPress, press_id)

    async def _release(self, press_id: uuid.UUID) -> None:
        async with transaction(self._sessions) as session:
            await session.exec(
                update(SosOutboxPress)
                .where(col(SosOutboxPress.id) == press_id)
                .values(claimed_until=None)
            )

    async def _mark_opened(self, press_id: uuid.UUID) -> None:
        async with transaction(self._sessions) as session:
            await session.exec(
                update(SosOutboxPress)
                .where(col(SosOutboxPress.id) == press_id)
                .values(opened_at=datetime.now(UTC), claimed_until=None)
            )
