"""What every `crisisdesk` command starts from: its settings (a bad one exits 2 naming it) and,
for the commands that read or write records, sessions on the configured database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import typer
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from infra.settings import Settings, SettingsError, load_settings


def command_settings() -> Settings:
    from infra.logging import configure_logging

    try:
        settings = load_settings()
    except SettingsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    configure_logging(settings)
    return settings


@asynccontextmanager
async def command_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the configured database for one command; the engine is closed after."""
    from infra.db import make_async_engine, session_factory

    engine = make_async_engine(settings.resolved_database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
