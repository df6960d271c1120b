"""Case-file projection: the incident workflow's state written to the database, idempotently."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.write_errors import classified_write_errors
from domain.effects import IncidentProjection
from domain.models import DecisionRecord, Dispatch, Incident
from infra.audit_log import append_in
from infra.db import transaction


class CasefileActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_incident")
    async def record_incident(self, projection: IncidentProjection) -> int:
        """Upsert the incident at its revision; insert decisions and audit events once each.

        Returns the revision now stored. Retried writes are harmless: rows are keyed by the
        workflow's own ids, and an older revision never overwrites a newer one.
        """
        async with classified_write_errors("the case file"), transaction(self._sessions) as session:
            await self._write(session, projection)
        return projection.state.revision

    async def _write(self, session: AsyncSession, projection: IncidentProjection) -> None:
        state = projection.state
        row = await session.get(Incident, state.incident_id)
        snapshot = state.model_dump(mode="json")
        if row is None:
            row = Incident(
                id=state.incident_id,
                program_id=state.program_id,
                client_id=state.client_id,
                workflow_id=state.workflow_id,
                crisis_type=state.crisis_type,
                stage=state.stage,
                risk_level=state.risk_level,
                owner_id=state.owner_id,
                opened_by=UUID(state.opened_by),
                opened_at=state.opened_at,
                updated_at=state.updated_at,
                ended_at=state.ended_at,
                protocol_version=state.protocol_version,
                revision=state.revision,
                snapshot=snapshot,
            )
            session.add(row)
        elif row.revision < state.revision or row.revision == 0:
            # Reclassify changes the crisis type and the protocol (SPEC 10.2).
            row.crisis_type, row.protocol_version = state.crisis_type, state.protocol_version
            row.stage = state.stage
            row.risk_level = state.risk_level
            row.owner_id = state.owner_id
            row.updated_at = state.updated_at
            row.ended_at = state.ended_at
            row.revision = state.revision
            row.snapshot = snapshot
        await session.flush()
        for entry in projection.decisions:
            if await session.get(DecisionRecord, entry.decision_id) is None:
                session.add(
                    DecisionRecord(
                        id=entry.decision_id,
                        incident_id=state.incident_id,
                        program_id=state.program_id,
                        kind=entry.kind,
                        actor_id=entry.actor_id,
                        actor_role=entry.actor_role,
                        recorded_at=entry.at,
                        detail={**entry.detail, "documentation": entry.documentation},
                    )
                )
        for dispatch in state.dispatches:
            existing = await session.get(Dispatch, dispatch.dispatch_id)
            if existing is None:
                session.add(
                    Dispatch(
                        id=dispatch.dispatch_id,
                        incident_id=state.incident_id,
                        program_id=state.program_id,
                        service=dispatch.service,
                        resource_id=dispatch.resource_id,
                        status=dispatch.status,
                        reference=dispatch.reference,
                        destination=dispatch.destination,
                        requested_by=UUID(dispatch.requested_by),
                        requested_at=dispatch.requested_at,
                        updated_at=state.updated_at,
                    )
                )
            elif existing.status != dispatch.status:
                existing.status = dispatch.status
                existing.destination = dispatch.destination
                existing.updated_at = state.updated_at
        await session.flush()
        for audit in projection.audit:
            await append_in(session, audit)
