"""The program's staff directory (SPEC 10.4): who is active, by name and role, and who is on
call; for the clinical roles and admins, so a supervisor can pick an owner. No tokens, no
contact details."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import Staff
from domain.vocabulary import Role


class StaffMember(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    on_call: bool


class StaffDirectory(BaseModel):
    data: list[StaffMember]
    count: int


async def staff_directory(
    *, session: AsyncSession, program_id: uuid.UUID, role: Role | None = None
) -> StaffDirectory:
    """The program's active staff, by name; with `role`, only that role's."""
    query = select(Staff).where(Staff.program_id == program_id).where(col(Staff.active))
    if role is not None:
        query = query.where(Staff.role == role)
    rows = (await session.exec(query.order_by(col(Staff.name), col(Staff.id)))).all()
    members = [StaffMember(id=r.id, name=r.name, role=r.role, on_call=r.on_call) for r in rows]
    return StaffDirectory(data=members, count=len(members))
