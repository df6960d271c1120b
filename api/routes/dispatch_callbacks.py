"""Dispatch providers report back: a signed, replay-protected callback becomes a
`dispatch_update` decision on the incident, recorded once."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import RuntimeDep, SessionDep, TemporalDep
from api.problems import Problem, answered_in_time
from domain.decisions import Actor, DecisionRequest, DispatchUpdate
from domain.dispatch import DispatchCallback
from domain.incident import workflow_id_for
from domain.models import Incident
from domain.vocabulary import DispatchStatus
from infra.signatures import SIGNATURE_HEADER, SignatureError, verify
from workflows.incident import IncidentWorkflow

router = APIRouter(prefix="/v1/callbacks", tags=["callbacks"])

PROVIDER_ACTOR = "dispatch-provider"


@router.post("/dispatch")
async def dispatch_callback(
    request: Request, runtime: RuntimeDep, session: SessionDep, temporal: TemporalDep
) -> dict[str, str]:
    """A CAD or mobile-crisis system confirms `en_route`, `arrived`, `transported` or
    `cancelled`. The body is signed with the shared webhook secret (HMAC-SHA256, timestamped);
    an old signature or an event already applied is refused."""
    secret = runtime.settings.webhook_secret
    if not secret:
        raise Problem(404, "Not found", "dispatch callbacks are not configured")
    body = await request.body()
    try:
        verify(secret, request.headers.get(SIGNATURE_HEADER, ""), body, time.time())
    except SignatureError as error:
        raise Problem(401, "Unauthorized", str(error)) from None
    try:
        callback = DispatchCallback.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise Problem(422, "Unprocessable content", f"{field}: {first['msg']}") from None
    if callback.status is DispatchStatus.REQUESTED:
        raise Problem(422, "Unprocessable content", "status: a provider reports progress only")
    incident = await session.get(Incident, callback.incident_id)
    if incident is None:
        raise Problem(404, "Not found", "no such incident")
    decision = DispatchUpdate(
        dispatch_id=callback.dispatch_id,
        status=callback.status,
        eta_minutes=callback.eta_minutes,
        destination=callback.destination,
    )
    update = DecisionRequest(
        decision_id=uuid.uuid5(uuid.NAMESPACE_URL, f"dispatch-callback:{callback.event_id}"),
        actor=Actor(staff_id=PROVIDER_ACTOR, role="system", program_id=incident.program_id),
        decision=decision,
        callback_event_id=callback.event_id,
    )
    handle = temporal.get_workflow_handle_for(
        IncidentWorkflow.run, workflow_id_for(callback.incident_id)
    )
    try:
        await answered_in_time(handle.execute_update(IncidentWorkflow.dispatch_update, update))
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        detail = getattr(cause, "message", "refused")
        raise Problem(409, "Conflict", f"the callback was not applied: {detail}") from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise Problem(
                409, "Conflict", "the callback was not applied: the incident has ended"
            ) from None
        raise
    return {"status": "applied"}
