"""Incidents: open one (starts its workflow), list and read them, record decisions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Query, Response, status
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api import incident_reads
from api.decision_context import channels_of_client, check_owner, disclosure_context
from api.deps import (
    Clinical,
    CurrentStaff,
    Now,
    RuntimeDep,
    SessionDep,
    TemporalDep,
)
from api.idempotency import (
    decision_id_for,
    decision_update_id,
    incident_id_for,
    is_replay,
    key_reused,
)
from api.incident_client import client_of, closed_or_missing, current_state, handle_for
from api.incident_reads import incident_answer
from api.incident_views import IncidentCreate, IncidentList, IncidentView
from api.problems import Problem, answered_in_time, refusal_problem
from domain.decisions import (
    DECISION_ROLES,
    Actor,
    ContactLost,
    Decision,
    DecisionRequest,
    DispatchRequest,
    NotifyContacts,
    Reclassify,
)
from domain.incident import IncidentOpening
from domain.incident.machine import open_incident as initial_state
from domain.models import Client as ClientRecord
from domain.models import Resource, Staff
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, DecisionKind, RiskLevel, Role, Stage, with_article
from infra.records import in_program, request_digest
from infra.temporal import start_incident
from workflows.incident import DECISION_UPDATES

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=15)


def _actor(staff: Staff) -> Actor:
    return Actor(staff_id=str(staff.id), role=staff.role, program_id=staff.program_id)


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
    incident_id = incident_id_for(staff.program_id, idempotency_key)
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
        existing, live = await current_state(temporal, session, incident_id, staff.program_id)
        if not is_replay(
            first_digest=existing.request_digest,
            first_client_id=existing.client_id,
            digest=digest,
            client_id=body.client_id,
        ):
            raise key_reused("incident") from None
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
        return await incident_answer(session, existing, role=Role(staff.role), live=live)
    initial = initial_state(opening, opening.opened_at)
    return await incident_answer(session, initial, role=Role(staff.role))


@router.get("")
async def list_incidents(
    staff: Clinical,
    session: SessionDep,
    stage: Stage | None = None,
    crisis_type: CrisisType | None = None,
    risk_level: RiskLevel | None = None,
    owner: Annotated[uuid.UUID | Literal["me"] | None, Query()] = None,
    client_id: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> IncidentList:
    """The program's incidents, newest first, from the case-file projection; `client_id` gives
    one client's incidents."""
    return await incident_reads.list_incidents(
        session=session,
        staff=staff,
        stage=stage,
        crisis_type=crisis_type,
        risk_level=risk_level,
        owner=owner,
        client_id=client_id,
        limit=limit,
        offset=offset,
    )


@router.get("/{incident_id}")
async def get_incident(
    incident_id: uuid.UUID,
    staff: Clinical,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> IncidentView:
    """Current state, live from the workflow (the projection if the workflow cannot answer), with
    each delivery attempt and each follow-up task.

    Reading an incident's clinical detail is an audit event. A supervisor of another program
    reads it only under a running break-glass grant (and records no decision).
    """
    return await incident_reads.read_incident(
        session=session, temporal=temporal, staff=staff, incident_id=incident_id, now=now
    )


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
        raise Problem(403, "Forbidden", f"{with_article(staff.role)} may not record {kind}")
    await check_owner(session, decision, staff.program_id)
    disclosure = None
    if isinstance(decision, DispatchRequest) and decision.resource_id is not None:
        resource = await in_program(session, Resource, decision.resource_id, staff.program_id)
        if resource is None:
            raise Problem(
                404,
                "Not found",
                "resource_id: no such resource in the directory",
                errors=[{"field": "resource_id", "message": "no such resource in the directory"}],
            )
    client_channels = None
    if isinstance(decision, NotifyContacts | ContactLost):
        client_id = await client_of(temporal, session, incident_id, staff.program_id)
        if isinstance(decision, NotifyContacts):
            disclosure = await disclosure_context(session, client_id)
        else:
            client_channels = await channels_of_client(session, client_id)
    decision_id = decision_id_for(incident_id, staff.id, idempotency_key)
    digest = request_digest(decision)
    request = DecisionRequest(
        decision_id=decision_id,
        actor=_actor(staff),
        decision=decision,
        disclosure=disclosure,
        client_channels=client_channels,
        request_digest=digest,
        # A reclassified incident takes the new type's protocol as it is now, frozen from then.
        protocol=protocol_for(decision.crisis_type) if isinstance(decision, Reclassify) else None,
    )
    handle = handle_for(temporal, incident_id)
    try:
        state = await answered_in_time(
            handle.execute_update(
                DECISION_UPDATES[kind],
                request,
                # Bound to the body: Temporal answers a repeated id with the first result, and
                # the workflow refuses the same key with another body.
                id=decision_update_id(decision_id, digest),
                rpc_timeout=UPDATE_TIMEOUT,
            )
        )
    except WorkflowUpdateFailedError as error:
        raise refusal_problem(error, Role(staff.role)) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise await closed_or_missing(session, incident_id, staff.program_id) from None
        raise
    return await incident_answer(session, state, role=Role(staff.role))
