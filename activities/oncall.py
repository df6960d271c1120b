"""The handoff watch's one read: at an instant, who the schedule puts on call for the rotation's
role, the open incidents they cover, and the next handoff. The page itself goes through the one
paging path (`page_staff`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.models import OnCallRotation
from domain.oncall import shift_member
from domain.oncall_watch import HandoffCheck, HandoffCheckResult
from infra.oncall import on_call_staff, open_incident_ids, upcoming_handoff


class OnCallActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="check_handoff")
    async def check_handoff(self, check: HandoffCheck) -> HandoffCheckResult:
        async with self._sessions() as session:
            rotation = await session.get(OnCallRotation, check.rotation_id)
            if rotation is None:
                # The API starts the watch, then writes the row: retried until it is there.
                raise ApplicationError("the rotation is not written (yet)", type="RotationMissing")
            newer = await session.exec(
                select(OnCallRotation.id)
                .where(OnCallRotation.program_id == check.program_id)
                .where(OnCallRotation.role == check.role.value)
                .where(col(OnCallRotation.created_at) > rotation.created_at)
            )
            if newer.first() is not None:
                return HandoffCheckResult(superseded=True, on_call=None)
            on_call = await on_call_staff(session, check.program_id, check.role, check.at)
            handoff = await upcoming_handoff(session, check.program_id, check.role, check.at)
            # Whoever every page to the on-call reaches now, the flag's person included when
            # the scheduled one cannot be (deactivated, another role): they are told they cover.
            return HandoffCheckResult(
                superseded=False,
                on_call=on_call.staff[0].id if on_call.staff else None,
                started=shift_member(rotation.rule(), check.at) is not None,
                open_incidents=await open_incident_ids(session, check.program_id),
                next_at=handoff.at if handoff is not None else None,
            )
