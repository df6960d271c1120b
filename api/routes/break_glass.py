"""Break-glass (SPEC 1 and 10.2): a supervisor reads another program's incident in an emergency.

`POST /v1/incidents/{id}/break-glass {"reason"}` by a supervisor of another program grants them
read access to that incident's detail and history for 60 minutes. The owning program's
supervisors are paged first (no grant the owners are not told of), then the grant and its
`break_glass` audit event (with the reason) are written in one transaction of the owning
program's chain. After the grant ends, the incident is 404 to them again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, status
from temporalio.common import WorkflowIDReusePolicy

from api.deps import Now, RuntimeDep, SessionDep, Supervisor, TemporalDep
from api.problems import Problem, not_found
from domain.audit import AuditEntry
from domain.effects import PageRequest
from domain.incident import PageOrder, PageTarget
from domain.models import BreakGlassGrant, Incident
from domain.models.access import BreakGlassPublic, BreakGlassRequest
from infra.audit_log import append_audit_on
from workflows.break_glass import BreakGlassPageWorkflow, break_glass_workflow_id

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

BREAK_GLASS_FOR = timedelta(minutes=60)
# What the page says: an id and why, never the reason's free text (it may name the client).
PAGE_REASON = "break-glass: a supervisor of another program may read this incident for 60 min"


@router.post(
    "/{incident_id}/break-glass",
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "the incident is of your own program: no break-glass needed"},
        422: {"description": "the reason is missing"},
    },
)
async def break_glass(
    incident_id: uuid.UUID,
    body: BreakGlassRequest,
    supervisor: Supervisor,
    session: SessionDep,
    temporal: TemporalDep,
    runtime: RuntimeDep,
    now: Now,
) -> BreakGlassPublic:
    """Read another program's incident (detail and history) for 60 minutes; the reason is
    required and audited, and the incident's own supervisors are paged."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise not_found("incident")
    if incident.program_id == supervisor.program_id:
        raise Problem(
            409,
            "Conflict",
            "break-glass is not needed: the incident is of your own program",
            code="break_glass_not_needed",
        )
    grant = BreakGlassGrant(
        incident_id=incident.id,
        program_id=incident.program_id,
        staff_id=supervisor.id,
        reason=body.reason,
        granted_at=now,
        expires_at=now + BREAK_GLASS_FOR,
    )
    order = PageOrder(
        page_id=f"break-glass:{grant.id}",
        reason=PAGE_REASON,
        target=PageTarget.ALL_SUPERVISORS,
        ordered_at=now,
    )
    await temporal.start_workflow(
        BreakGlassPageWorkflow.run,
        PageRequest(incident_id=incident.id, program_id=incident.program_id, order=order),
        id=break_glass_workflow_id(str(grant.id)),
        task_queue=runtime.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    entry = AuditEntry(
        event_key=f"break_glass:{grant.id}",
        program_id=incident.program_id,
        action="break_glass",
        actor_id=str(supervisor.id),
        actor_role=supervisor.role,
        at=now,
        incident_id=incident.id,
        detail={
            "reason": body.reason,
            "grant_id": str(grant.id),
            "actor_program_id": str(supervisor.program_id),
            "expires_at": grant.expires_at.isoformat(),
        },
    )
    await append_audit_on(session, [entry], rows=[grant])
    return BreakGlassPublic(
        id=grant.id,
        incident_id=grant.incident_id,
        staff_id=grant.staff_id,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
    )
