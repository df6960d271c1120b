"""Console sessions: a staff token exchanged once for a browser session (SPEC 10.3)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field as Column
from sqlmodel import SQLModel

from domain.models.columns import timestamp


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. Only hashes are kept: the cookie's value and the CSRF token the
    session's forms carry are shown to the browser once and never stored in clear."""

    __tablename__ = "console_session"

    id: uuid.UUID = Column(default_factory=uuid.uuid4, primary_key=True)
    cookie_hash: str = Column(unique=True, index=True, max_length=64)
    csrf_token: str = Column(max_length=64)
    staff_id: uuid.UUID = Column(foreign_key="staff.id", index=True)
    created_at: datetime = timestamp()
    expires_at: datetime = timestamp()
    ended_at: datetime | None = timestamp(nullable=True)
