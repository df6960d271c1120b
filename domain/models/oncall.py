"""On-call rotations and overrides (SPEC 10.4): the rows, what a caller sends, what is answered.

The rule over them (who is on call at an instant, the next handoff) is domain/oncall.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as Shape
from sqlmodel import Field, SQLModel

from domain.models.columns import enum_text, json_column, timestamp
from domain.models.text import NulFreeText
from domain.oncall import Override, Rotation
from domain.vocabulary import Role

MIN_SHIFT_HOURS, MAX_SHIFT_HOURS = 1, 14 * 24
MAX_MEMBERS = 50
MAX_OVERRIDE = timedelta(days=90)
# Instants a schedule may name: far enough either way for any real roster, and never near the
# ends of what a date-time can hold (a shift count from year 1 would overflow).
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
OnCallRole = Literal[Role.CLINICIAN, Role.SUPERVISOR]


class OnCallRotation(SQLModel, table=True):
    __tablename__ = "oncall_rotation"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    name: str = Field(max_length=200)
    role: str = Field(sa_type=enum_text())
    # Staff ids, in the order they take their shifts.
    members: list[str] = json_column(list)
    shift_hours: int
    first_handoff: datetime = timestamp()
    time_zone: str = Field(max_length=64)
    created_by: uuid.UUID = Field(foreign_key="staff.id")
    created_at: datetime = timestamp()

    def rule(self) -> Rotation:
        return Rotation(
            id=self.id,
            members=tuple(uuid.UUID(m) for m in self.members),
            shift=timedelta(hours=self.shift_hours),
            first_handoff=self.first_handoff,
            created_at=self.created_at,
        )


class OnCallOverride(SQLModel, table=True):
    __tablename__ = "oncall_override"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    role: str = Field(sa_type=enum_text())
    staff_id: uuid.UUID = Field(foreign_key="staff.id")
    starts_at: datetime = timestamp()
    ends_at: datetime = timestamp()
    reason: str = Field(max_length=500)
    created_by: uuid.UUID = Field(foreign_key="staff.id")
    created_at: datetime = timestamp()

    def rule(self) -> Override:
        return Override(
            id=self.id,
            staff_id=self.staff_id,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            created_at=self.created_at,
        )


def _within_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000-01-01 and 2100-01-01")
    return value


class RotationCreate(NulFreeText):
    model_config = ConfigDict(extra="forbid")

    name: str = Shape(min_length=1, max_length=200, description="what the team calls it")
    role: OnCallRole = Shape(description="whose pages it answers: clinician or supervisor")
    members: list[uuid.UUID] = Shape(
        min_length=1,
        max_length=MAX_MEMBERS,
        description="active staff of the program with the rotation's role, in shift order, "
        "each once",
    )
    shift_hours: int = Shape(
        ge=MIN_SHIFT_HOURS,
        le=MAX_SHIFT_HOURS,
        description="each shift's length in elapsed hours (1 h to 14 days); across a "
        "daylight-saving change a shift stays this long, so the handoff moves an hour on the "
        "wall clock",
    )
    first_handoff: datetime = Shape(
        description="when the first member's first shift starts (RFC 3339 with its offset, "
        "between 2000 and 2100)"
    )
    time_zone: str = Shape(
        min_length=1, max_length=64, description="IANA time zone, like America/Los_Angeles"
    )

    @field_validator("members")
    @classmethod
    def _each_once(cls, members: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(members)) != len(members):
            raise ValueError("each member may appear once")
        return members

    @field_validator("first_handoff")
    @classmethod
    def _first_handoff(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry its offset (RFC 3339)")
        return _within_range(value.astimezone(UTC))

    @field_validator("time_zone")
    @classmethod
    def _real_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone, like America/Los_Angeles") from None
        return value


class RotationPublic(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    members: list[uuid.UUID]
    shift_hours: int
    first_handoff: datetime
    first_handoff_local: str = Shape(description="the first handoff in the rotation's zone")
    time_zone: str
    created_by: uuid.UUID
    created_at: datetime

    @classmethod
    def of(cls, row: OnCallRotation) -> RotationPublic:
        local = row.first_handoff.astimezone(ZoneInfo(row.time_zone)).isoformat()
        fields: dict[str, Any] = row.model_dump()
        return cls(**fields, first_handoff_local=local)


class RotationList(BaseModel):
    data: list[RotationPublic]
    count: int


class OverrideCreate(NulFreeText):
    model_config = ConfigDict(extra="forbid")

    staff_id: uuid.UUID = Shape(
        description="who covers: an active clinician or supervisor of the program; they cover "
        "their own role"
    )
    starts_at: datetime = Shape(description="from (RFC 3339 with its offset)")
    ends_at: datetime = Shape(description="to, after `starts_at`, at most 90 days later")
    reason: str = Shape(min_length=1, max_length=500, description="why (audited)")

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _instant(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry its offset (RFC 3339)")
        return _within_range(value.astimezone(UTC))

    @model_validator(mode="after")
    def _runs_forward(self) -> OverrideCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_OVERRIDE:
            raise ValueError("an override runs at most 90 days")
        return self


class OverridePublic(BaseModel):
    id: uuid.UUID
    role: Role
    staff_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: uuid.UUID
    created_at: datetime


class OnCallEntry(BaseModel):
    role: Role
    staff_id: uuid.UUID | None
    name: str | None
    source: Literal["override", "rotation", "flag", "none"] = Shape(
        description="what puts them on call: an override, a rotation, the staff `on_call` flag "
        "(no schedule for the role), or nobody"
    )
    until: datetime | None = Shape(description="the next handoff on the schedule, if any")


class OnCallNow(BaseModel):
    at: datetime
    data: list[OnCallEntry]
