"""An incident's history for supervisors: the workflow's own event history merged with the
decisions, deliveries and audit events of the case file, in time order, each staff actor named."""

from __future__ import annotations

import uuid
from datetime import UTC

from fastapi import APIRouter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from api.deps import Now, SessionDep, Supervisor, TemporalDep, audit_read, incident_access
from api.incident_client import current_state, handle_for
from api.incident_views import IncidentHistory, TimelineEvent
from domain.models import AuditEvent, DecisionRecord, Incident, Notification, Staff
from infra.records import in_program

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


@router.get("/{incident_id}/history")
async def incident_history(
    incident_id: uuid.UUID,
    supervisor: Supervisor,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> IncidentHistory:
    """One timeline: the workflow's own event history merged with decisions, pages and audit.

    A supervisor of another program reads it only under a running break-glass grant."""
    access = await incident_access(session, supervisor, incident_id, now)
    incident = await in_program(session, Incident, incident_id, access.program_id)
    if incident is None:
        await current_state(temporal, session, incident_id, access.program_id)
    events: list[TimelineEvent] = []
    async for event in handle_for(temporal, incident_id).fetch_history_events():
        if event.event_type not in _QUIET_EVENTS:
            events.append(_temporal_event(event))
    for decision in (
        await session.exec(select(DecisionRecord).where(DecisionRecord.incident_id == incident_id))
    ).all():
        events.append(
            TimelineEvent(
                at=decision.recorded_at,
                type=f"decision.{decision.kind}",
                actor=decision.actor_id,
                detail={
                    "decision_id": str(decision.id),
                    "role": decision.actor_role,
                    **decision.detail,
                },
            )
        )
    for note in (
        await session.exec(select(Notification).where(Notification.incident_id == incident_id))
    ).all():
        events.append(
            TimelineEvent(
                at=note.created_at,
                type=f"{note.purpose}.{note.status}",
                actor="system",
                detail={
                    "recipient_type": note.recipient_type,
                    "recipient_id": note.recipient_id,
                    "channel": note.channel,
                    "attempt": note.attempt,
                },
            )
        )
    for audit in (
        await session.exec(select(AuditEvent).where(AuditEvent.incident_id == incident_id))
    ).all():
        events.append(
            TimelineEvent(
                at=audit.at,
                type=f"audit.{audit.action}",
                actor=audit.actor_id,
                detail={"seq": audit.seq, "role": audit.actor_role, **audit.detail},
            )
        )
    events.sort(key=lambda e: e.at)
    await _name_actors(session, events)
    await audit_read(
        session,
        supervisor,
        "incident.history_read",
        incident_id=incident_id,
        program_id=access.program_id,
        detail=access.audit_detail(),
    )
    return IncidentHistory(incident_id=incident_id, events=events)


async def _name_actors(session: AsyncSession, events: list[TimelineEvent]) -> None:
    """Each event by a staff member carries their name and role, not only their id."""
    ids = {staff_id for e in events if (staff_id := _staff_id(e.actor)) is not None}
    if not ids:
        return
    found = (await session.exec(select(Staff).where(col(Staff.id).in_(ids)))).all()
    members = {str(member.id): member for member in found}
    for event in events:
        member = members.get(event.actor)
        if member is not None:
            event.actor_name, event.actor_role = member.name, member.role


def _staff_id(actor: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(actor)
    except ValueError:
        return None


# Workflow-task bookkeeping says nothing a supervisor needs; everything else is kept.
_QUIET_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
}


def _temporal_event(event: HistoryEvent) -> TimelineEvent:
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
    detail: dict[str, object] = {"event_id": event.event_id}
    actor = "temporal"
    kind = event.WhichOneof("attributes")
    if kind:
        attributes = getattr(event, kind)
        for descriptor, value in attributes.ListFields():
            if descriptor.name in ("activity_type", "workflow_type"):
                detail[descriptor.name] = value.name
            elif descriptor.name in ("timer_id", "activity_id", "scheduled_event_id"):
                detail[descriptor.name] = value
            elif descriptor.name == "accepted_request":
                detail["update"] = value.input.name
                actor = value.meta.identity or actor
            elif descriptor.name == "identity":
                actor = value
    return TimelineEvent(
        at=event.event_time.ToDatetime(tzinfo=UTC),
        type=f"temporal.{name}",
        actor=actor,
        detail=detail,
    )
