"""Who is on call, from the database: the rule of domain/oncall.py over a program's rotation and
override rows, falling back to the staff `on_call` flag when the schedule names nobody for the
role. The one answer every page to "the on-call" uses: the paging activity's on-call target, the
SOS owner, the handoff watch and `GET /v1/oncall/now`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import Incident, OnCallOverride, OnCallRotation, Staff
from domain.oncall import Handoff, Schedule, next_handoff, on_call_at
from domain.vocabulary import Role


@dataclass(frozen=True)
class OnCallStaff:
    """Who is on call for a role: one person on the schedule; every flagged member without
    one (oldest first); nobody when neither names an active member."""

    staff: list[Staff]
    source: Literal["override", "rotation", "flag", "none"]


async def schedule_for(
    session: AsyncSession, program_id: uuid.UUID, role: Role, since: datetime
) -> Schedule:
    """The role's rotations, and its overrides still running or to come at `since` (the ones
    that ended cannot name anybody again: an SOS press never reads years of them)."""
    rotations = await session.exec(
        select(OnCallRotation)
        .where(OnCallRotation.program_id == program_id)
        .where(OnCallRotation.role == role.value)
    )
    overrides = await session.exec(
        select(OnCallOverride)
        .where(OnCallOverride.program_id == program_id)
        .where(OnCallOverride.role == role.value)
        .where(col(OnCallOverride.ends_at) > since)
    )
    return Schedule(
        rotations=tuple(r.rule() for r in rotations.all()),
        overrides=tuple(o.rule() for o in overrides.all()),
    )


async def on_call_staff(
    session: AsyncSession, program_id: uuid.UUID, role: Role, at: datetime
) -> OnCallStaff:
    """Who is on call for `role` at `at`: the schedule's person if they are active staff of the
    program in that role, else the members whose `on_call` flag is set."""
    scheduled = on_call_at(await schedule_for(session, program_id, role, at), at)
    if scheduled is not None:
        person = await session.get(Staff, scheduled.staff_id)
        in_role = person is not None and person.role == role and person.program_id == program_id
        if person is not None and in_role and person.active:
            return OnCallStaff(staff=[person], source=scheduled.source)
    flagged = (
        await session.exec(
            select(Staff)
            .where(Staff.program_id == program_id)
            .where(Staff.role == role)
            .where(col(Staff.active).is_(True))
            .where(col(Staff.on_call).is_(True))
            .order_by(col(Staff.created_at))
        )
    ).all()
    return OnCallStaff(staff=list(flagged), source="flag" if flagged else "none")


async def upcoming_handoff(
    session: AsyncSession, program_id: uuid.UUID, role: Role, after: datetime
) -> Handoff | None:
    return next_handoff(await schedule_for(session, program_id, role, after), after)


async def open_incident_ids(session: AsyncSession, program_id: uuid.UUID) -> list[uuid.UUID]:
    """The program's open incidents (not closed or cancelled), oldest first: what the on-call
    person covers."""
    found = await session.exec(
        select(Incident.id)
        .where(Incident.program_id == program_id)
        .where(col(Incident.ended_at).is_(None))
        .order_by(col(Incident.opened_at))
    )
    return list(found.all())
