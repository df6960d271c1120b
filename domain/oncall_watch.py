"""What the on-call handoff watch (workflows/oncall.py) and its activity (activities/oncall.py)
exchange: the watch's input, the signal that the schedule changed, and the schedule read at an
instant. The rule itself is domain/oncall.py."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from domain.signed import SignedMessage
from domain.vocabulary import Role


class HandoffWatch(SignedMessage):
    """The input of a rotation's handoff watch; what it carries on when it continues as new."""

    rotation_id: UUID
    program_id: UUID
    role: Role
    # The instant to check next, who was on call at the last check, and whether there was one
    # (a watch continued as new has: its first check paged at the rotation's creation already).
    at: datetime | None = None
    on_call: UUID | None = None
    checked: bool = False


class ScheduleChanged(SignedMessage):
    """Sent to the watches of a role when an override is made: look again now."""

    override_id: UUID


class HandoffCheck(BaseModel):
    rotation_id: UUID
    program_id: UUID
    role: Role
    at: datetime


class HandoffCheckResult(BaseModel):
    """At `HandoffCheck.at`: whether a newer rotation of the role took over (the watch ends),
    who the schedule puts on call (None: nobody, the flag answers), whether the rotation names
    a member then (its first handoff has come), the program's open incidents, and the next
    handoff (None: none within the horizon)."""

    superseded: bool
    on_call: UUID | None
    started: bool = False
    open_incidents: list[UUID] = Field(default_factory=list)
    next_at: datetime | None = None
