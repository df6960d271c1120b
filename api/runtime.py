"""What one API process holds: settings, the database engine, and its one Temporal client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cached_property

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from infra.ack_tokens import ack_key
from infra.settings import Settings
from infra.temporal import connect_temporal

log = structlog.get_logger("crisisdesk.api")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: Client | None = None
    _connecting: asyncio.Task[None] | None = field(default=None, repr=False)

    def connect_in_background(self) -> None:
        """Keep trying to reach Temporal, so the API starts (and says 503) while it is down."""
        if self.temporal is None and self._connecting is None:
            self._connecting = asyncio.create_task(self._connect_until_up())

    async def _connect_until_up(self) -> None:
        delay = 0.5
        while self.temporal is None:
            try:
                self.temporal = await connect_temporal(self.settings)
                log.info("temporal.connected", temporal=self.settings.temporal_address)
            except Exception as error:  # any failure to connect means: try again
                log.warning("temporal.unreachable", error_type=type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    @cached_property
    def ack_secret(self) -> bytes:
        """Signs acknowledgement links; the same key as the worker's."""
        return ack_key(self.settings)

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        await self.engine.dispose()
