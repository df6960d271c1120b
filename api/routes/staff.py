"""Programs and staff (admin), and the staff directory (clinical roles too)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, status
from sqlmodel import col, func, select

from api.deps import Admin, DirectoryReader, SessionDep
from api.problems import not_found
from api.staff_directory import StaffDirectory, staff_directory
from domain.audit import AuditEntry
from domain.models import Program, Staff
from domain.models.programs import (
    ProgramPublic,
    ProgramUpdate,
    StaffCreate,
    StaffList,
    StaffPublic,
    StaffWithToken,
)
from domain.vocabulary import Role
from infra.audit_log import append_audit_on
from infra.records import create_staff, in_program

router = APIRouter(prefix="/v1", tags=["staff"])


@router.get("/programs/me")
async def my_program(admin: Admin, session: SessionDep) -> ProgramPublic:
    """The caller's program."""
    program = await session.get(Program, admin.program_id)
    if program is None:
        raise not_found("program")
    return ProgramPublic.model_validate(program)


@router.patch("/programs/me")
async def change_my_program(
    body: ProgramUpdate, admin: Admin, session: SessionDep
) -> ProgramPublic:
    """Mark the program as a 42 CFR Part 2 program (or not): in a Part 2 program every incident
    is Part 2-protected, so family is told only with written Part 2 consent. Audited."""
    program = await session.get(Program, admin.program_id)
    if program is None:
        raise not_found("program")
    if program.part2_program != body.part2_program:
        program.part2_program = body.part2_program
        entry = AuditEntry(
            event_key=f"program.part2:{uuid.uuid4()}",
            program_id=program.id,
            action="program.part2_changed",
            actor_id=str(admin.id),
            actor_role=admin.role,
            at=datetime.now(UTC),
            detail={"part2_program": body.part2_program},
        )
        await append_audit_on(session, [entry], rows=[program])
    return ProgramPublic.model_validate(program)


@router.get("/staff")
async def list_staff(admin: Admin, session: SessionDep) -> StaffList:
    """Staff of the caller's program, with contact details and token dates (admin); the
    clinical roles read `/v1/staff/directory`."""
    rows = (
        await session.exec(
            select(Staff).where(Staff.program_id == admin.program_id).order_by(col(Staff.name))
        )
    ).all()
    count = (
        await session.exec(select(func.count()).where(Staff.program_id == admin.program_id))
    ).one()
    return StaffList(data=[StaffPublic.model_validate(r) for r in rows], count=count)


@router.get("/staff/directory")
async def list_staff_directory(
    reader: DirectoryReader, session: SessionDep, role: Role | None = None
) -> StaffDirectory:
    """The program's active staff (name, role, on call) for clinicians, supervisors and admins:
    whom to reassign an incident to, who is on call. No tokens, no contact details."""
    return await staff_directory(session=session, program_id=reader.program_id, role=role)


@router.post("/staff", status_code=status.HTTP_201_CREATED)
async def add_staff(body: StaffCreate, admin: Admin, session: SessionDep) -> StaffWithToken:
    """Add a staff member; the answer carries their bearer token, shown this once."""
    staff, token = await create_staff(session, program_id=admin.program_id, data=body)
    await session.commit()
    return StaffWithToken.model_validate(staff, update={"token": token})


@router.post("/staff/{staff_id}/deactivate")
async def deactivate_staff(staff_id: uuid.UUID, admin: Admin, session: SessionDep) -> StaffPublic:
    """Revoke a staff member's token: they can no longer sign in."""
    staff = await in_program(session, Staff, staff_id, admin.program_id)
    if staff is None:
        raise not_found("staff member")
    staff.active = False
    await session.commit()
    return StaffPublic.model_validate(staff)
