"""Live pages (SPEC 10.3: any change shown within 2 seconds, without a reload): server-sent
events that say *that* something changed, never what (no PHI on the stream); the page then asks
for the fragment it shows, through the same audited reads as a full page.

Changes are read from the case file, which every API process shares, so a decision taken through
one API process reaches a board served by another. Each stream looks every half second with a
few small queries on a connection it holds only for them: an open tab holds no connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.console.rendering import PAGE_HEADERS
from api.console.session import (
    NotSignedInError,
    PageNotFoundError,
    SignedIn,
    signed_in_browser,
)
from domain.models import (
    ConsoleSession,
    Dispatch,
    FollowUpTask,
    Incident,
    Notification,
    Staff,
)

POLL_SECONDS = 0.5
# A comment line now and then keeps proxies from closing a quiet stream.
KEEPALIVE_POLLS = 30


async def board_version(session: AsyncSession, program_id: uuid.UUID) -> tuple[Any, ...]:
    """Changes whenever an incident of the program is opened or changes in any way."""
    return tuple(
        (
            await session.exec(
                select(func.count(), func.max(Incident.updated_at), func.sum(Incident.revision))
                .select_from(Incident)
                .where(col(Incident.program_id) == program_id)
            )
        ).one()
    )


async def tasks_version(session: AsyncSession, program_id: uuid.UUID) -> tuple[Any, ...]:
    """Changes whenever a follow-up task of the program is added, claimed or settled."""
    return tuple(
        (
            await session.exec(
                select(func.count(), func.max(FollowUpTask.updated_at))
                .select_from(FollowUpTask)
                .where(col(FollowUpTask.program_id) == program_id)
            )
        ).one()
    )


async def incident_version(session: AsyncSession, incident_id: uuid.UUID) -> tuple[Any, ...]:
    """Changes with the incident's projection, its deliveries, dispatches and follow-up tasks."""
    row = (
        await session.exec(
            select(Incident.revision, Incident.stage).where(col(Incident.id) == incident_id)
        )
    ).first()
    latest = [
        await _latest(session, table.updated_at, table.incident_id, incident_id)
        for table in (Notification, Dispatch, FollowUpTask)
    ]
    return (tuple(row) if row else None, *latest)


async def decisions_version(
    session: AsyncSession, incident_id: uuid.UUID
) -> tuple[Any, ...] | None:
    """Changes when the decisions on offer may change: the stage, the open dispatches, the
    contacts being reached (a form being filled in is not replaced for anything less)."""
    snapshot = (
        await session.exec(select(Incident.snapshot).where(col(Incident.id) == incident_id))
    ).first()
    if snapshot is None:
        return None
    dispatches = tuple(
        (d.get("dispatch_id"), d.get("status")) for d in snapshot.get("dispatches", [])
    )
    return (tuple(snapshot.get("allowed_decisions", [])), dispatches)


async def _latest(
    session: AsyncSession, updated_at: Any, incident_column: Any, incident_id: uuid.UUID
) -> tuple[Any, ...]:
    found = await session.exec(
        select(func.count(), func.max(updated_at)).where(incident_column == incident_id)
    )
    return tuple(found.one())


Versions = dict[str, Callable[[AsyncSession], Awaitable[Any]]]
# What a stream checks on each poll besides the session: still allowed to watch (a break-glass
# grant runs out); False ends the stream with a `reload` event, and the page shows the 404.
StillAllowed = Callable[[AsyncSession], Awaitable[bool]]


async def live_stream(
    request: Request,
    watch: Callable[[SignedIn, AsyncSession], Awaitable[tuple[Versions, StillAllowed | None]]],
) -> Response:
    """Open a change stream for the signed-in browser. Who is watching, and what, is checked on
    a session of its own that is closed before the stream starts: a stream holds no database
    connection between its polls (a stream lasts as long as the tab)."""
    sessions = request.app.state.runtime.sessions
    async with sessions() as session:
        try:
            viewer = await signed_in_browser(request, session, datetime.now(UTC))
            versions, still_allowed = await watch(viewer, session)
        except NotSignedInError:
            return _one_event("signed-out")
        except PageNotFoundError:
            return Response(status_code=204)  # 204 stops the browser's reconnecting
    return _change_stream(request, viewer, versions, still_allowed)


def _one_event(event: str) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        yield f"retry: 60000\nevent: {event}\ndata: {event}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=PAGE_HEADERS)


def _change_stream(
    request: Request,
    signed_in: SignedIn,
    versions: Versions,
    still_allowed: StillAllowed | None,
) -> StreamingResponse:
    """A stream that sends each event of `versions` when its version reads something new."""
    sessions = request.app.state.runtime.sessions
    session_id = signed_in.session.id

    async def events() -> AsyncIterator[str]:
        last: dict[str, Any] = {}
        quiet = 0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            async with sessions() as session:
                if not await _still_signed_in(session, session_id):
                    yield "event: signed-out\ndata: signed-out\n\n"
                    return
                if still_allowed is not None and not await still_allowed(session):
                    yield "event: reload\ndata: reload\n\n"
                    return
                now = {event: await version_of(session) for event, version_of in versions.items()}
            # A version first read (None before: the case file had no copy yet) is no change.
            changed = [e for e, v in now.items() if last.get(e) is not None and last[e] != v]
            for event in changed:
                yield f"event: {event}\ndata: {event}\n\n"
            quiet = 0 if changed else quiet + 1
            if quiet >= KEEPALIVE_POLLS:
                yield ": still here\n\n"
                quiet = 0
            last = now
            await asyncio.sleep(POLL_SECONDS)

    headers = {**PAGE_HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


async def _still_signed_in(session: AsyncSession, session_id: uuid.UUID) -> bool:
    found = (
        await session.exec(
            select(ConsoleSession, Staff)
            .join(Staff, col(Staff.id) == col(ConsoleSession.staff_id))
            .where(col(ConsoleSession.id) == session_id)
        )
    ).first()
    if found is None:
        return False
    row, staff = found
    return row.ended_at is None and datetime.now(UTC) < row.expires_at and staff.active
