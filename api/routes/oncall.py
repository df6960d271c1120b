"""On-call schedules (SPEC 10.4): rotations (admin), overrides (admin, supervisor), and who is on
call now (any staff of the program).

A rotation's handoff watch (workflows/oncall.py) is started before its row is written, under an
id made from the rotation's, so a rotation never exists without the watch that pages its
handoffs; an override nudges the role's watches to look again at once. Each creation is audited.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, status
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from api.deps import Admin, CurrentStaff, RuntimeDep, SessionDep, TemporalDep, require
from api.problems import Problem, not_found
from domain.audit import AuditEntry
from domain.models import OnCallOverride, OnCallRotation, Staff
from domain.models.oncall import (
    OnCallEntry,
    OnCallNow,
    OverrideCreate,
    OverridePublic,
    RotationCreate,
    RotationList,
    RotationPublic,
)
from domain.oncall_watch import HandoffWatch, ScheduleChanged
from domain.vocabulary import Role
from infra.audit_log import append_audit_on
from infra.oncall import on_call_staff, upcoming_handoff
from workflows.oncall import OnCallHandoffWorkflow

log = structlog.get_logger("crisisdesk.oncall")
router = APIRouter(prefix="/v1/oncall", tags=["on-call"])

AdminOrSupervisor = Annotated[Staff, Depends(require(Role.ADMIN, Role.SUPERVISOR))]
ROTATIONS_LISTED = 100
SIGNAL_TIMEOUT = timedelta(seconds=2)


def handoff_watch_id(rotation_id: uuid.UUID) -> str:
    return f"oncall-{rotation_id}"


@router.post(
    "/rotations",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "a member is not staff of your program"},
        422: {"description": "a member is inactive or of another role, or a field is wrong"},
    },
)
async def create_rotation(
    body: RotationCreate,
    admin: Admin,
    session: SessionDep,
    temporal: TemporalDep,
    runtime: RuntimeDep,
) -> RotationPublic:
    """Hand the role's on-call from member to member every `shift_hours`, from `first_handoff`.
    The newest rotation of a role governs once its first handoff has come; at each handoff the
    incoming member is paged once with the program's open incidents; a first handoff already
    past pages the member on call at creation the same way. Audited."""
    for member_id in body.members:
        member = await _program_staff(session, member_id, admin.program_id)
        if not member.active or member.role != body.role:
            raise _invalid("members", f"each must be an active {body.role} of the program")
    rotation = OnCallRotation(
        program_id=admin.program_id,
        name=body.name,
        role=body.role.value,
        members=[str(m) for m in body.members],
        shift_hours=body.shift_hours,
        first_handoff=body.first_handoff,
        time_zone=body.time_zone,
        created_by=admin.id,
        created_at=datetime.now(UTC),
    )
    watch = HandoffWatch(rotation_id=rotation.id, program_id=admin.program_id, role=body.role)
    await temporal.start_workflow(
        OnCallHandoffWorkflow.run,
        watch,
        id=handoff_watch_id(rotation.id),
        task_queue=runtime.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    entry = _audit(admin, "oncall.rotation_created", rotation.id, rotation.created_at)
    entry.detail |= {"role": rotation.role, "members": rotation.members}
    entry.detail |= {"shift_hours": rotation.shift_hours}
    await append_audit_on(session, [entry], rows=[rotation])
    return RotationPublic.of(rotation)


@router.get("/rotations")
async def list_rotations(staff: CurrentStaff, session: SessionDep) -> RotationList:
    """The program's rotations, newest first (at most 100)."""
    rows = (
        await session.exec(
            select(OnCallRotation)
            .where(OnCallRotation.program_id == staff.program_id)
            .order_by(col(OnCallRotation.created_at).desc(), col(OnCallRotation.id))
            .limit(ROTATIONS_LISTED)
        )
    ).all()
    return RotationList(data=[RotationPublic.of(r) for r in rows], count=len(rows))


@router.post(
    "/overrides",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "the staff member is not of your program"},
        422: {"description": "they are inactive or neither clinician nor supervisor"},
    },
)
async def create_override(
    body: OverrideCreate, staff: AdminOrSupervisor, session: SessionDep, runtime: RuntimeDep
) -> OverridePublic:
    """Put a clinician or supervisor on call for their role from `starts_at` to `ends_at`, over
    the rotation (the newest override wins where several overlap). If the override changes who
    is on call, the incoming person is paged at its start. Audited."""
    covering = await _program_staff(session, body.staff_id, staff.program_id)
    if not covering.active or covering.role not in (Role.CLINICIAN, Role.SUPERVISOR):
        raise _invalid("staff_id", "must be an active clinician or supervisor of the program")
    override = OnCallOverride(
        program_id=staff.program_id,
        role=covering.role,
        staff_id=covering.id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
        created_by=staff.id,
        created_at=datetime.now(UTC),
    )
    entry = _audit(staff, "oncall.override_created", override.id, override.created_at)
    entry.detail |= {"role": override.role, "staff_id": str(override.staff_id)}
    entry.detail |= {"from": body.starts_at.isoformat(), "to": body.ends_at.isoformat()}
    entry.detail |= {"reason": body.reason}
    await append_audit_on(session, [entry], rows=[override])
    if runtime.temporal is not None:
        await _tell_watches(session, runtime.temporal, override)
    return OverridePublic.model_validate(override, from_attributes=True)


@router.get("/now")
async def on_call_now(staff: CurrentStaff, session: SessionDep) -> OnCallNow:
    """Who is on call now for each role, and what puts them there: an override, a rotation,
    or (no schedule for the role) the staff `on_call` flag, each flagged member listed."""
    now = datetime.now(UTC)
    entries: list[OnCallEntry] = []
    for role in (Role.CLINICIAN, Role.SUPERVISOR):
        on_call = await on_call_staff(session, staff.program_id, role, now)
        handoff = await upcoming_handoff(session, staff.program_id, role, now)
        until = handoff.at if handoff is not None else None
        people: list[Staff | None] = list(on_call.staff) or [None]
        entries += [
            OnCallEntry(
                role=role,
                staff_id=person.id if person else None,
                name=person.name if person else None,
                source=on_call.source,
                until=until,
            )
            for person in people
        ]
    return OnCallNow(at=now, data=entries)


async def _program_staff(
    session: AsyncSession, staff_id: uuid.UUID, program_id: uuid.UUID
) -> Staff:
    member = await session.get(Staff, staff_id)
    if member is None or member.program_id != program_id:
        raise not_found("staff member")
    return member


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        "Unprocessable content",
        f"{field}: {message}",
        errors=[{"field": field, "message": message}],
    )


def _audit(actor: Staff, action: str, ident: uuid.UUID, at: datetime) -> AuditEntry:
    return AuditEntry(
        event_key=f"{action}:{ident}",
        program_id=actor.program_id,
        action=action,
        actor_id=str(actor.id),
        actor_role=actor.role,
        at=at,
        detail={"id": str(ident)},
    )


async def _tell_watches(session: AsyncSession, temporal: Client, override: OnCallOverride) -> None:
    """Nudge the role's handoff watches; one that cannot be reached picks the override up at
    its next handoff."""
    rotations = await session.exec(
        select(OnCallRotation.id)
        .where(OnCallRotation.program_id == override.program_id)
        .where(OnCallRotation.role == override.role)
    )
    for rotation_id in rotations.all():
        handle = temporal.get_workflow_handle_for(
            OnCallHandoffWorkflow.run, handoff_watch_id(rotation_id)
        )
        try:
            await handle.signal(
                OnCallHandoffWorkflow.schedule_changed,
                ScheduleChanged(override_id=override.id),
                rpc_timeout=SIGNAL_TIMEOUT,
            )
        except (RPCError, RPCTimeoutOrCancelledError) as error:  # ended, or Temporal is away
            log.info(
                "oncall.watch_not_told", rotation_id=str(rotation_id), error=type(error).__name__
            )
