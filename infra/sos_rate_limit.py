"""The SOS button's rate limit, counted in the database: every API process shares one count per
device and window, so presses spread across replicas meet the same limit as presses to one."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import SosPressCount

# Per device: enough to stop a stuck button, never a real second press.
RATE_LIMIT_PRESSES = 6
RATE_LIMIT_WINDOW = timedelta(seconds=60)


def window_start(at: datetime, window: timedelta = RATE_LIMIT_WINDOW) -> int:
    """Unix seconds at which the window holding `at` starts."""
    seconds = int(window.total_seconds())
    return int(at.timestamp()) // seconds * seconds


async def press_allowed(
    session: AsyncSession,
    device_id: uuid.UUID,
    at: datetime,
    *,
    limit: int = RATE_LIMIT_PRESSES,
    window: timedelta = RATE_LIMIT_WINDOW,
) -> bool:
    """Count the press in its window (one atomic statement, whichever process runs it) and say
    whether it is within the limit. The count is a transaction of its own on the request's
    session (no second connection per press): what the session read before is committed first,
    and the count is committed at once, whatever the request does next."""
    start = window_start(at, window)
    await session.commit()
    connection = await session.connection()
    insert = (postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert)(
        SosPressCount
    )
    upsert = (
        insert.values(device_id=device_id, window_start=start, presses=1)
        .on_conflict_do_update(
            index_elements=["device_id", "window_start"],
            set_={"presses": col(SosPressCount.presses) + 1},
        )
        .returning(col(SosPressCount.presses))
    )
    presses = (await connection.execute(upsert)).scalar_one()
    # The device's past windows say nothing any more.
    await connection.execute(
        delete(SosPressCount)
        .where(col(SosPressCount.device_id) == device_id)
        .where(col(SosPressCount.window_start) < start)
    )
    await session.commit()
    return int(presses) <= limit
