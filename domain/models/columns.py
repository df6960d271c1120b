"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps; SQLite drops the zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_text() -> String:
    """Enumerations are stored as their values in plain text: readable in SQL, and a new value
    needs no ALTER TYPE (the pydantic shapes validate them)."""
    return String(32)


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp(*, index: bool = False, nullable: bool = False, **kwargs: Any) -> Any:
    return Field(
        sa_type=UTCDateTime,
        index=index,
        nullable=nullable,
        **({"default": None} if nullable else {"default_factory": utcnow}),
        **kwargs,
    )


def json_column(default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_type=JSON, nullable=False)
