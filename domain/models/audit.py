"""The append-only audit log: each event carries the hash of its predecessor in the program."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.models.columns import json_column, timestamp


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("program_id", "seq", name="uq_audit_event_program_seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    seq: int
    event_key: str = Field(unique=True, max_length=200)
    at: datetime = timestamp()
    action: str = Field(max_length=64, index=True)
    actor_id: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    incident_id: uuid.UUID | None = Field(default=None, index=True)
    detail: dict[str, Any] = json_column(dict)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
