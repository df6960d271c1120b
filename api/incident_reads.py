"""What a caller reads about incidents, whichever screen asks: the JSON routes and the console
call these, so the board, the detail and the answer to a decision show the same incident.

- `incident_answer`: the view of a state with its deliveries and follow-up tasks from the case
  file (the answer to opening an incident or recording a decision).
- `read_incident`: the detail, live from the workflow; an audited read.
- `list_incidents`: the program's incidents, filtered and paged; an audited read.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.deps import IncidentAccess, audit_read, incident_access
from api.incident_client import current_state
from api.incident_views import (
    IncidentList,
    IncidentSummary,
    IncidentView,
    PendingTimer,
    incident_view,
)
from domain.incident import IncidentState
from domain.models import FollowUpTask, Incident, Notification, Staff
from domain.vocabulary import CrisisType, RiskLevel, Role, Stage


async def incident_answer(
    session: AsyncSession, state: IncidentState, *, role: Role, live: bool = True
) -> IncidentView:
    """The incident as `role` sees it, with each delivery attempt and each follow-up task."""
    view = incident_view(state, role=role, live=live)
    view.notifications = await _notifications(session, state.incident_id)
    view.tasks = await _tasks(session, state.incident_id)
    return view


async def readable_incident(
    *,
    session: AsyncSession,
    temporal: Client,
    staff: Staff,
    incident_id: uuid.UUID,
    now: datetime,
) -> tuple[IncidentAccess, IncidentState, bool]:
    """Whose incident `staff` reads (their program's, or another's under a break-glass grant),
    its state and whether that is live; the one 404 when they may not read it. Not audited:
    the callers that show the detail audit it."""
    access = await incident_access(session, staff, incident_id, now)
    state, live = await current_state(temporal, session, incident_id, access.program_id)
    return access, state, live


async def read_incident(
    *,
    session: AsyncSession,
    temporal: Client,
    staff: Staff,
    incident_id: uuid.UUID,
    now: datetime,
) -> IncidentView:
    """The detail: live from the workflow (the projection if it cannot answer), audited.

    A supervisor of another program reads it only under a running break-glass grant, and is
    then offered no decision."""
    access, state, live = await readable_incident(
        session=session, temporal=temporal, staff=staff, incident_id=incident_id, now=now
    )
    view = await incident_answer(session, state, role=Role(staff.role), live=live)
    if access.grant_id is not None:
        view.allowed_decisions = []
    await audit_read(
        session,
        staff,
        "incident.read",
        incident_id=incident_id,
        program_id=access.program_id,
        detail=access.audit_detail(),
    )
    return view


async def list_incidents(
    *,
    session: AsyncSession,
    staff: Staff,
    stage: Stage | None = None,
    crisis_type: CrisisType | None = None,
    risk_level: RiskLevel | None = None,
    owner: uuid.UUID | Literal["me"] | None = None,
    client_id: uuid.UUID | None = None,
    open_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> IncidentList:
    """The program's incidents, newest first, from the case-file projection; audited when it
    shows any. `open_only` leaves out closed and cancelled ones (the board)."""
    filters: list[Any] = [Incident.program_id == staff.program_id]
    if stage is not None:
        filters.append(Incident.stage == stage)
    if open_only:
        filters.append(col(Incident.stage).not_in([Stage.CLOSED, Stage.CANCELLED]))
    if crisis_type is not None:
        filters.append(Incident.crisis_type == crisis_type)
    if risk_level is not None:
        filters.append(Incident.risk_level == risk_level)
    if owner is not None:
        filters.append(Incident.owner_id == (staff.id if owner == "me" else owner))
    if client_id is not None:
        filters.append(Incident.client_id == client_id)
    # The page and its total in one statement, so both come from the same snapshot.
    found = (
        await session.exec(
            select(Incident, func.count().over())
            .where(*filters)
            .order_by(col(Incident.opened_at).desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    count = found[0][1] if found else 0
    if not found and offset:  # a page past the end still tells how many there are
        count = (
            await session.exec(select(func.count()).select_from(Incident).where(*filters))
        ).one()
    listed = IncidentList(data=[incident_summary(row) for row, _ in found], count=count)
    if listed.data:  # the list shows clinical facts (type, risk, stage): reading it is audited
        ids = [str(r.id) for r in listed.data]
        await audit_read(session, staff, "incidents.listed", detail={"incident_ids": ids})
    return listed


def incident_summary(row: Incident) -> IncidentSummary:
    """A list's line for an incident: its case-file row, with its next timer and how many
    pages reached nobody (the JSON list and the console's board)."""
    snapshot = row.snapshot or {}
    timers = [PendingTimer.model_validate(alarm) for alarm in snapshot.get("alarms") or []]
    return IncidentSummary(
        next_timer=min(timers, key=lambda timer: timer.due_at, default=None),
        unreachable=len(snapshot.get("unreachable") or []),
        id=row.id,
        client_id=row.client_id,
        crisis_type=row.crisis_type,
        stage=row.stage,
        risk_level=row.risk_level,
        owner=row.owner_id,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        protocol_version=row.protocol_version,
    )


async def _notifications(session: AsyncSession, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    attempts = await session.exec(
        select(Notification)
        .where(Notification.incident_id == incident_id)
        .order_by(col(Notification.created_at))
    )
    return [
        {
            "id": str(n.id),
            "purpose": n.purpose,
            "recipient_type": n.recipient_type,
            "recipient_id": n.recipient_id,
            "channel": n.channel,
            "status": n.status,
            "attempt": n.attempt,
            "error": n.error,
            "created_at": n.created_at.isoformat(),
            "updated_at": n.updated_at.isoformat(),
        }
        for n in attempts.all()
    ]


async def _tasks(session: AsyncSession, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    tasks = await session.exec(
        select(FollowUpTask)
        .where(FollowUpTask.incident_id == incident_id)
        .order_by(col(FollowUpTask.sequence))
    )
    return [
        {
            "id": str(t.id),
            "sequence": t.sequence,
            "due_at": t.due_at.isoformat(),
            "status": t.status,
            "assignee_id": str(t.assignee_id) if t.assignee_id else None,
            "outcome": t.outcome,
        }
        for t in tasks.all()
    ]
