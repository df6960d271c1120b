"""The supervisor's pages (`/supervise`): the program's incidents to pick from, the state of the
audit chain, and one incident's merged history (the same service as `/v1/incidents/{id}/history`)
as a timeline, and the SLA report with its plots (SPEC 10.4, `api/console/sla_page.py`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api import incident_reads
from api.console.page_support import found_or_missing, staff_names
from api.console.rendering import page
from api.console.session import Browser, require_role
from api.console.sla_page import sla_section
from api.deps import Now, RuntimeDep, SessionDep, TemporalDep
from api.routes.incident_history import incident_history
from domain.models import AuditEvent
from domain.vocabulary import Role
from infra.audit_log import verify_chain

router = APIRouter(include_in_schema=False)
_RECENT = 100


@dataclass(frozen=True)
class ChainState:
    """What a supervisor is told of the audit chain: intact with how many of the program's
    events, or where it breaks."""

    intact: bool
    events: int
    message: str


async def chain_state(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, program_id: uuid.UUID
) -> ChainState:
    """Verify the keyed chain as `crisisdesk audit verify` does; a break in another program's
    chain is reported without its detail (it is not this program's)."""
    _, broken = await verify_chain(sessions)
    events = (
        await session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.program_id) == program_id)
        )
    ).one()
    if broken is None:
        return ChainState(True, events, f"Intact: {events} events of this program verified.")
    if broken.program_id != program_id:
        return ChainState(
            False,
            events,
            "The audit log is broken outside this program, so the rest was not verified; an "
            "administrator should run `crisisdesk audit verify`.",
        )
    where = f"event {broken.seq}" if broken.event_id else "an anchored event"
    return ChainState(False, events, f"Broken at {where}: {broken.problem}.")


@router.get("/supervise")
async def supervise(
    request: Request, me: Browser, session: SessionDep, runtime: RuntimeDep, now: Now
) -> Response:
    require_role(me, Role.SUPERVISOR)
    listed = await incident_reads.list_incidents(session=session, staff=me.staff, limit=_RECENT)
    owners = await staff_names(session, me.staff.program_id, (i.owner for i in listed.data))
    chain = await chain_state(runtime.sessions, session, me.staff.program_id)
    sla = await sla_section(session, me.staff.program_id, request.query_params, now)
    return page(
        request,
        "supervise.html",
        {
            "me": me,
            "section": "supervise",
            "incidents": listed.data,
            "count": listed.count,
            "owners": owners,
            "chain": chain,
            "sla": sla,
        },
    )


@router.get("/supervise/incidents/{incident_id}")
async def supervise_incident(
    request: Request,
    incident_id: uuid.UUID,
    me: Browser,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
    events: Literal["all", "case"] = "all",
) -> Response:
    """`events=case` leaves out the workflow engine's own events (decisions, pages and audit
    remain)."""
    require_role(me, Role.SUPERVISOR)
    history = await found_or_missing(
        incident_history(
            incident_id=incident_id,
            supervisor=me.staff,
            session=session,
            temporal=temporal,
            now=now,
        )
    )
    shown = [e for e in history.events if events == "all" or not e.type.startswith("temporal.")]
    return page(
        request,
        "supervise_incident.html",
        {
            "me": me,
            "section": "supervise",
            "incident_id": incident_id,
            "events": shown,
            "which": events,
        },
    )
