"""The API's one way to an incident's workflow: its handle, its live state (or the case file's
when the workflow cannot answer), and what a refusal by a missing workflow means."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import col, select
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep
from api.problems import Problem, not_found
from domain.incident import DecisionEntry, IncidentState, workflow_id_for
from domain.models import DecisionRecord, Incident
from domain.vocabulary import DecisionKind
from infra.records import in_program
from workflows.incident import IncidentWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


def handle_for(
    temporal: Client, incident_id: uuid.UUID
) -> WorkflowHandle[IncidentWorkflow, IncidentState]:
    return temporal.get_workflow_handle_for(IncidentWorkflow.run, workflow_id_for(incident_id))


async def current_state(
    temporal: Client, session: SessionDep, incident_id: uuid.UUID, program_id: uuid.UUID
) -> tuple[IncidentState, bool]:
    """The live state from the workflow; the projection when the workflow cannot answer.

    A workflow that exists but cannot answer yet (no worker has run its first task, say, while
    workers restart) and has no projection yet is a 503 to retry, not a 404."""
    try:
        state = await handle_for(temporal, incident_id).query(
            IncidentWorkflow.current, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as error:
        row = await session.get(Incident, incident_id)
        if row is not None and row.program_id != program_id:
            raise not_found("incident") from None
        if row is not None and row.snapshot:
            return await projected_state(session, row), False
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


async def projected_state(session: SessionDep, row: Incident) -> IncidentState:
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


async def closed_or_missing(
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


async def client_of(
    temporal: Client, session: SessionDep, incident_id: uuid.UUID, program_id: uuid.UUID
) -> uuid.UUID:
    """The incident's client, which never changes: the projection knows it without asking the
    workflow, except in the moment before the first projection lands."""
    row = await in_program(session, Incident, incident_id, program_id)
    if row is not None:
        return row.client_id
    return (await current_state(temporal, session, incident_id, program_id))[0].client_id
