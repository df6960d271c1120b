"""Break-glass grants: a supervisor of another program reading one incident for a bounded time."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Field as Column
from sqlmodel import SQLModel

from domain.models.columns import timestamp
from domain.models.text import NulFreeText


class BreakGlassGrant(SQLModel, table=True):
    """Read access (detail and history) to an incident of `program_id` for `staff_id`, a
    supervisor of another program, until `expires_at`. Written with its `break_glass` audit
    event in one transaction."""

    __tablename__ = "break_glass_grant"

    id: uuid.UUID = Column(default_factory=uuid.uuid4, primary_key=True)
    incident_id: uuid.UUID = Column(index=True)
    program_id: uuid.UUID = Column(foreign_key="program.id", index=True)
    staff_id: uuid.UUID = Column(foreign_key="staff.id", index=True)
    reason: str = Column(max_length=2000)
    granted_at: datetime = timestamp()
    expires_at: datetime = timestamp()


class BreakGlassRequest(NulFreeText):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000, description="why you need to read it")


class BreakGlassPublic(BaseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    staff_id: uuid.UUID
    granted_at: datetime
    expires_at: datetime
