"""Projections the workflows write: incidents, their decisions, notifications, dispatches, tasks.

The incident workflow is the single writer of these rows (through activities); the API reads them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from domain.models.columns import json_column, timestamp


class Incident(SQLModel, table=True):
    __table_args__ = (
        Index("ix_incident_program_stage", "program_id", "stage"),
        Index("ix_incident_program_opened", "program_id", "opened_at"),
    )

    id: uuid.UUID = Field(primary_key=True)
    program_id: uuid.UUID = Field(foreign_key="program.id")
    client_id: uuid.UUID = Field(foreign_key="client.id", index=True)
    workflow_id: str = Field(unique=True, max_length=100)
    crisis_type: str = Field(max_length=32)
    stage: str = Field(max_length=32)
    risk_level: str | None = Field(default=None, max_length=16)
    owner_id: uuid.UUID = Field(foreign_key="staff.id", index=True)
    opened_by: uuid.UUID = Field(foreign_key="staff.id")
    opened_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    ended_at: datetime | None = timestamp(nullable=True)
    protocol_version: str = Field(max_length=64)
    # Projection version: the workflow's revision counter, so a stale write never wins.
    revision: int = 0
    snapshot: dict[str, Any] = json_column(dict)


class DecisionRecord(SQLModel, table=True):
    __tablename__ = "decision"

    id: uuid.UUID = Field(primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incident.id", index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    kind: str = Field(max_length=32)
    actor_id: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    recorded_at: datetime = timestamp()
    detail: dict[str, Any] = json_column(dict)


class Notification(SQLModel, table=True):
    """One delivery attempt to one recipient on one channel (contacts, pages, the client)."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # No foreign key: a page or a message is recorded and sent even when the incident's own
    # case-file row could not be written (SPEC 10.1, projection errors never block).
    incident_id: uuid.UUID = Field(index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    purpose: str = Field(max_length=32)
    recipient_type: str = Field(max_length=16)
    recipient_id: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    status: str = Field(max_length=16)
    attempt: int = 1
    idempotency_key: str = Field(unique=True, max_length=200)
    provider_ref: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class Dispatch(SQLModel, table=True):
    id: uuid.UUID = Field(primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incident.id", index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    service: str = Field(max_length=32)
    resource_id: uuid.UUID | None = Field(default=None, foreign_key="resource.id")
    status: str = Field(max_length=16)
    reference: str | None = Field(default=None, max_length=200)
    destination: str | None = Field(default=None, max_length=200)
    requested_by: uuid.UUID = Field(foreign_key="staff.id")
    requested_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    detail: dict[str, Any] = json_column(dict)


class FollowUpTask(SQLModel, table=True):
    __tablename__ = "followup_task"
    __table_args__ = (
        Index("ix_followup_task_program_status_due", "program_id", "status", "due_at"),
    )

    id: uuid.UUID = Field(primary_key=True)
    # No foreign key, as for notifications: the follow-up is an effect of its own.
    incident_id: uuid.UUID = Field(index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id")
    sequence: int
    due_at: datetime = timestamp()
    status: str = Field(max_length=16)
    assignee_id: uuid.UUID | None = Field(default=None, foreign_key="staff.id", index=True)
    outcome: str | None = Field(default=None, max_length=32)
    notes: str | None = None
    # The disposition's safety plan, which the follow-up worker reviews with the client.
    safety_plan: dict[str, Any] | None = Field(default=None, sa_type=JSON, nullable=True)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
