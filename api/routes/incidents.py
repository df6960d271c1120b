"""Incidents: open one (starts its workflow), read it, record decisions, audit its history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Query, Response, status
from sqlmodel import col, func, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import (
    Clinical,
    CurrentStaff,
    RuntimeDep,
    SessionDep,
    Supervisor,
    TemporalDep,
    audit_read,
)
from api.incident_views import (
    IncidentCreate,
    IncidentHistory,
    IncidentList,
    IncidentSummary,
    IncidentView,
    TimelineEvent,
    incident_view,
)
from api.problems import Problem, answered_in_time, not_found, refusal_problem
from domain.decisions import (
    CLINICAL,
    DECISION_ROLES,
    Actor,
    ContactLost,
    ContactOnFile,
    Decision,
    DecisionRequest,
    DisclosureContext,
    DispatchRequest,
    NotifyContacts,
)
from domain.disclosure import ConsentFacts, ContactFacts
from domain.incident import (
    DecisionEntry,
    IncidentOpening,
    IncidentState,
    workflow_id_for,
)
from domain.incident.machine import (
    open_incident as initial_state,
)
from domain.models import (
    AuditEvent,
    Consent,
    DecisionRecord,
    EmergencyContact,
    Incident,
    Notification,
    Resource,
    Staff,
)
from domain.models import Client as ClientRecord
from domain.protocols import protocol_for
from domain.vocabulary import Channel, CrisisType, DecisionKind, RiskLevel, Role, Stage
from infra.records import in_program, request_digest
from infra.temporal import start_incident
from workflows.incident import DECISION_UPDATES, IncidentWorkflow

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a4e-9d1b-4c55-8a57-2f1f3c7d9e10")
QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=15)


def _actor(staff: Staff) -> Actor:
    return Actor(staff_id=str(staff.id), role=staff.role, program_id=staff.program_id)


def _handle(
    temporal: Client, incident_id: uuid.UUID
) -> WorkflowHandle[IncidentWorkflow, IncidentState]:
    return temporal.get_workflow_handle_for(IncidentWorkflow.run, workflow_id_for(incident_id))


@router.post("", status_code=status.HTTP_201_CREATED)
async def open_incident(
    body: IncidentCreate,
    staff: Clinical,
    session: SessionDep,
    temporal: TemporalDep,
    runtime: RuntimeDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> IncidentView:
    """Open an incident for a client of the program; its workflow starts at once.

    The same `Idempotency-Key` again answers the same incident (200) instead of opening another.
    """
    client = await in_program(session, ClientRecord, body.client_id, staff.program_id)
    if client is None:
        raise Problem(
            404,
            "Not found",
            "no such client",
            errors=[{"field": "client_id", "message": "no such client"}],
        )
    incident_id = (
        uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{staff.program_id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    digest = request_digest(body)
    protocol = protocol_for(body.crisis_type)
    opening = IncidentOpening(
        incident_id=incident_id,
        program_id=staff.program_id,
        client_id=client.id,
        crisis_type=body.crisis_type,
        summary=body.summary,
        location=body.location,
        owner_id=staff.id,
        opened_by=_actor(staff),
        opened_at=datetime.now(UTC),
        protocol=protocol,
        idempotency_key=idempotency_key,
        request_digest=digest,
    )
    try:
        await start_incident(temporal, opening, task_queue=runtime.settings.task_queue)
    except WorkflowAlreadyStartedError:
        existing, live = await _current_state(temporal, session, incident_id, staff.program_id)
        if existing.request_digest not in (None, digest) or existing.client_id != body.client_id:
            raise _key_reused("incident") from None
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
        return incident_view(existing, role=Role(staff.role), live=live)
    return incident_view(initial_state(opening, opening.opened_at), role=Role(staff.role))


@router.get("")
async def list_incidents(
    staff: Clinical,
    session: SessionDep,
    stage: Stage | None = None,
    crisis_type: CrisisType | None = None,
    risk_level: RiskLevel | None = None,
    owner: Annotated[uuid.UUID | Literal["me"] | None, Query()] = None,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> IncidentList:
    """The program's incidents, newest first, from the case-file projection."""
    filters = [Incident.program_id == staff.program_id]
    if stage is not None:
        filters.append(Incident.stage == stage)
    if crisis_type is not None:
        filters.append(Incident.crisis_type == crisis_type)
    if risk_level is not None:
        filters.append(Incident.risk_level == risk_level)
    if owner is not None:
        filters.append(Incident.owner_id == (staff.id if owner == "me" else owner))
    rows = (
        await session.exec(
            select(Incident)
            .where(*filters)
            .order_by(col(Incident.opened_at).desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    count = (await session.exec(select(func.count()).select_from(Incident).where(*filters))).one()
    return IncidentList(
        data=[
            IncidentSummary(
                id=r.id,
                client_id=r.client_id,
                crisis_type=r.crisis_type,
                stage=r.stage,
                risk_level=r.risk_level,
                owner=r.owner_id,
                opened_at=r.opened_at,
                updated_at=r.updated_at,
                protocol_version=r.protocol_version,
            )
            for r in rows
        ],
        count=count,
    )


@router.get("/{incident_id}")
async def get_incident(
    incident_id: uuid.UUID,
    staff: Clinical,
    session: SessionDep,
    temporal: TemporalDep,
    runtime: RuntimeDep,
) -> IncidentView:
    """Current state, live from the workflow (the projection if the workflow cannot answer).

    Reading an incident's clinical detail is an audit event.
    """
    state, live = await _current_state(temporal, session, incident_id, staff.program_id)
    view = incident_view(state, role=Role(staff.role), live=live)
    attempts = await session.exec(
        select(Notification)
        .where(Notification.incident_id == incident_id)
        .order_by(col(Notification.created_at))
    )
    view.notifications = [
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
    await audit_read(runtime, staff, "incident.read", incident_id=incident_id)
    return view


@router.post(
    "/{incident_id}/decisions",
    responses={409: {"description": "not allowed now"}, 422: {"description": "wrong body"}},
)
async def record_decision(
    incident_id: uuid.UUID,
    decision: Annotated[Decision, Body()],
    staff: CurrentStaff,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> IncidentView:
    """Record a decision: the workflow answers the new state, or refuses and changes nothing.

    With an `Idempotency-Key`, sending the same decision again (after a timeout, say) never
    records it twice: it answers the outcome of the first.
    """
    kind = DecisionKind(decision.kind)
    if Role(staff.role) not in DECISION_ROLES[kind]:
        raise Problem(403, "Forbidden", f"a {staff.role} may not record {kind}")
    await _check_owner(session, decision, staff.program_id)
    disclosure = None
    if isinstance(decision, DispatchRequest) and decision.resource_id is not None:
        resource = await in_program(session, Resource, decision.resource_id, staff.program_id)
        if resource is None:
            raise Problem(
                422,
                "Unprocessable content",
                "resource_id: no such resource in the directory",
                errors=[{"field": "resource_id", "message": "no such resource in the directory"}],
            )
    client_channels = None
    if isinstance(decision, NotifyContacts | ContactLost):
        client_id = await _client_of(temporal, session, incident_id, staff.program_id)
        if isinstance(decision, NotifyContacts):
            disclosure = await _disclosure_context(session, client_id)
        else:
            client_channels = await _client_channels(session, client_id)
    decision_id = (
        uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"decision:{incident_id}:{staff.id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    digest = request_digest(decision)
    request = DecisionRequest(
        decision_id=decision_id,
        actor=_actor(staff),
        decision=decision,
        disclosure=disclosure,
        client_channels=client_channels,
        request_digest=digest,
    )
    handle = _handle(temporal, incident_id)
    try:
        state = await answered_in_time(
            handle.execute_update(
                DECISION_UPDATES[kind],
                request,
                # Bound to the body: Temporal answers a repeated id with the first result, and
                # the workflow refuses the same key with another body.
                id=f"{decision_id}:{digest[:16]}",
                rpc_timeout=UPDATE_TIMEOUT,
            )
        )
    except WorkflowUpdateFailedError as error:
        raise refusal_problem(error) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise await _closed_or_missing(session, incident_id, staff.program_id) from None
        raise
    return incident_view(state, role=Role(staff.role))


@router.get("/{incident_id}/history")
async def incident_history(
    incident_id: uuid.UUID,
    supervisor: Supervisor,
    session: SessionDep,
    temporal: TemporalDep,
    runtime: RuntimeDep,
) -> IncidentHistory:
    """One timeline: the workflow's own event history merged with decisions, pages and audit."""
    incident = await in_program(session, Incident, incident_id, supervisor.program_id)
    if incident is None:
        await _current_state(temporal, session, incident_id, supervisor.program_id)
    events: list[TimelineEvent] = []
    async for event in _handle(temporal, incident_id).fetch_history_events():
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
    await audit_read(runtime, supervisor, "incident.history_read", incident_id=incident_id)
    return IncidentHistory(incident_id=incident_id, events=events)


async def _current_state(
    temporal: Client, session: SessionDep, incident_id: uuid.UUID, program_id: uuid.UUID
) -> tuple[IncidentState, bool]:
    """The live state from the workflow; the projection when the workflow cannot answer.

    A workflow that exists but cannot answer yet (no worker has run its first task, say, while
    workers restart) and has no projection yet is a 503 to retry, not a 404."""
    try:
        state = await _handle(temporal, incident_id).query(
            IncidentWorkflow.current, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as error:
        row = await session.get(Incident, incident_id)
        if row is not None and row.program_id != program_id:
            raise not_found("incident") from None
        if row is not None and row.snapshot:
            return await _projected_state(session, row), False
        if error.status is RPCStatusCode.NOT_FOUND:
            raise not_found("incident") from None
        raise Problem(
            503,
            "Service unavailable",
            "the incident cannot answer yet (its workflow is waiting for a worker); try again",
            headers={"Retry-After": "2"},
        ) from None
    if state.program_id != program_id:
        raise not_found("incident")
    return state, True


async def _projected_state(session: SessionDep, row: Incident) -> IncidentState:
    """The state as the case file has it: the snapshot, with its decisions from their table."""
    state = IncidentState.model_validate(row.snapshot)
    if state.decisions:
        return state  # a snapshot written before decisions left it
    records = await session.exec(
        select(DecisionRecord)
        .where(DecisionRecord.incident_id == row.id)
        .order_by(col(DecisionRecord.recorded_at))
    )
    state.decisions = [
        DecisionEntry(
            decision_id=r.id,
            kind=DecisionKind(r.kind),
            actor_id=r.actor_id,
            actor_role=r.actor_role,
            at=r.recorded_at,
            detail={k: v for k, v in r.detail.items() if k != "documentation"},
            documentation=r.detail.get("documentation") or {},
        )
        for r in records.all()
    ]
    return state


async def _check_owner(session: SessionDep, decision: Decision, program_id: uuid.UUID) -> None:
    """A new owner must be an active clinician or supervisor of the program: checked here, so
    a wrong id never reaches the workflow (or the case file's foreign key)."""
    owner_id = getattr(decision, "owner_id", None)
    if owner_id is None:
        return
    owner = await in_program(session, Staff, owner_id, program_id)
    if owner is None or not owner.active or Role(owner.role) not in CLINICAL:
        message = "not an active clinician or supervisor of this program"
        raise Problem(
            422,
            "Unprocessable content",
            f"owner_id: {message}",
            errors=[{"field": "owner_id", "message": message}],
        )


def _key_reused(what: str) -> Problem:
    message = f"this Idempotency-Key was already used for a different {what}"
    return Problem(
        422,
        "Unprocessable content",
        message,
        errors=[{"field": "Idempotency-Key", "message": message}],
    )


async def _client_of(
    temporal: Client, session: SessionDep, incident_id: uuid.UUID, program_id: uuid.UUID
) -> uuid.UUID:
    """The incident's client, which never changes: the projection knows it without asking the
    workflow, except in the moment before the first projection lands."""
    row = await in_program(session, Incident, incident_id, program_id)
    if row is not None:
        return row.client_id
    return (await _current_state(temporal, session, incident_id, program_id))[0].client_id


async def _client_channels(session: SessionDep, client_id: uuid.UUID) -> tuple[Channel, ...]:
    """How to reach the client themself when contact is lost: text, call, then email."""
    client = await session.get(ClientRecord, client_id)
    if client is None:
        return ()
    channels = [Channel.SMS, Channel.VOICE] if client.phone else []
    return (*channels, *([Channel.EMAIL] if client.email else []))


async def _disclosure_context(session: SessionDep, client_id: uuid.UUID) -> DisclosureContext:
    """The client's contacts and consents, for the workflow's disclosure rules."""
    contacts = (
        await session.exec(select(EmergencyContact).where(EmergencyContact.client_id == client_id))
    ).all()
    consents = (await session.exec(select(Consent).where(Consent.client_id == client_id))).all()
    return DisclosureContext(
        contacts=[
            ContactOnFile(
                facts=ContactFacts(contact_id=c.id, kind=c.kind, name=c.name, facility=c.facility),
                channels=tuple(Channel(ch) for ch in c.channels),
                priority=c.priority,
            )
            for c in contacts
        ],
        consents=[
            ConsentFacts(
                contact_id=c.contact_id,
                kind=c.kind,
                expires_at=c.expires_at,
                revoked_at=c.revoked_at,
            )
            for c in consents
        ],
    )


async def _closed_or_missing(
    session: SessionDep, incident_id: uuid.UUID, program_id: uuid.UUID
) -> Problem:
    row = await in_program(session, Incident, incident_id, program_id)
    if row is None:
        return not_found("incident")
    return Problem(
        409,
        "Conflict",
        f"the incident is {row.stage}: no more decisions",
        stage=row.stage,
        allowed=[],
    )


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
