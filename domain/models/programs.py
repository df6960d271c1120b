"""Programs (an IOP and its staff) and staff members with their hashed bearer tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

from domain.models.columns import enum_text, timestamp
from domain.models.text import Email, NulFreeText, Phone, Slug
from domain.vocabulary import Role


class ProgramBase(SQLModel):
    slug: Slug = Field(min_length=2, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="America/Los_Angeles", max_length=64)
    crisis_line_phone: str = Field(default="988", max_length=32)
    # A 42 CFR Part 2 program: every incident of it is Part 2-protected (SPEC 10.2).
    part2_program: bool = False


class Program(ProgramBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = timestamp()


class ProgramCreate(ProgramBase, NulFreeText):
    pass


class ProgramUpdate(SQLModel):
    """What an admin may change of their program."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    part2_program: bool


class ProgramPublic(ProgramBase):
    id: uuid.UUID
    created_at: datetime


class StaffBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role = Field(sa_type=enum_text())
    on_call: bool = False
    # Where pages reach them: a text to the phone, else an email; the console otherwise.
    phone: Phone | None = Field(default=None, max_length=16)
    email: Email | None = Field(default=None, max_length=254)


class Staff(StaffBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    active: bool = True
    created_at: datetime = timestamp()
    # The token's end (90 days by default; `crisisdesk staff rotate` issues the next), and its
    # last use, written at most once a minute.
    token_expires_at: datetime = timestamp()
    last_used_at: datetime | None = timestamp(nullable=True)


class StaffCreate(StaffBase, NulFreeText):
    pass


class StaffPublic(StaffBase):
    id: uuid.UUID
    program_id: uuid.UUID
    active: bool
    created_at: datetime
    token_expires_at: datetime
    last_used_at: datetime | None


class StaffWithToken(StaffPublic):
    """Answered once, when the staff member is created: only the token's hash is kept."""

    token: str


class StaffList(BaseModel):
    data: list[StaffPublic]
    count: int
