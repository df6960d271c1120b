"""Presses of the client's SOS button that the workflow engine could not take when they came."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlmodel import Field, SQLModel

from domain.models.columns import timestamp


class SosOutboxPress(SQLModel, table=True):
    """One press kept for the drain: it opens `incident_id` (or, when `joins`, is signalled to
    that incident, opened by an earlier press) as soon as Temporal is back. `opened_at` says it
    reached its incident; `claimed_until` is a drain's lease on it, so replicas never race."""

    __tablename__ = "sos_outbox"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # No foreign key: the incident's row is written by its workflow, after the drain starts it.
    incident_id: uuid.UUID = Field(index=True)
    joins: bool = False
    device_id: uuid.UUID = Field(foreign_key="client_device.id")
    client_id: uuid.UUID = Field(foreign_key="client.id", index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id")
    # The device's position when it sent one (a `domain.decisions.Location`).
    location: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    pressed_at: datetime = timestamp()
    claimed_until: datetime | None = timestamp(nullable=True)
    attempts: int = 0
    opened_at: datetime | None = timestamp(nullable=True, index=True)


class SosPressCount(SQLModel, table=True):
    """How often a device's SOS button was pressed in one rate-limit window, counted in the
    database so that every API process shares the limit."""

    __tablename__ = "sos_press_count"

    device_id: uuid.UUID = Field(foreign_key="client_device.id", primary_key=True)
    # Unix seconds at which the window starts.
    window_start: int = Field(sa_type=BigInteger, primary_key=True)
    presses: int = 0
