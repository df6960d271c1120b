"""Fixtures of the fast tests (`make mutants` runs them against every mutant): SQLite only, no
Temporal server, no network."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

import migrations
from infra.db import make_async_engine, session_factory
from infra.migrate import upgrade_database
from tests.helpers.programs import DemoProgram, make_program


@pytest.fixture(scope="session")
def migrated_sqlite() -> Path:
    """The migrated template, built once per set of migrations and kept in the temp dir: mutmut
    runs these tests in a new session for every mutant, and migrating takes longer than a test."""
    versions = Path(migrations.__file__).parent / "versions"
    digest = hashlib.sha256()
    for script in sorted(versions.glob("*.py")):
        digest.update(script.name.encode() + script.read_bytes())
    path = Path(tempfile.gettempdir()) / f"crisisdesk-fast-{digest.hexdigest()[:16]}.db"
    if not path.exists():
        building = path.with_name(f"{path.name}.{os.getpid()}.building")
        upgrade_database(f"sqlite:///{building}")
        os.replace(building, path)  # atomic: a concurrent session reads a whole file or none
    return path


@pytest_asyncio.fixture(loop_scope="session")
async def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A migrated SQLite database of the test's own (a copy of the template)."""
    path = tmp_path / "crisisdesk.db"
    shutil.copy(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest_asyncio.fixture(loop_scope="session")
async def sqlite_sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(sqlite_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def demo(sqlite_sessions: async_sessionmaker[AsyncSession]) -> DemoProgram:
    return await make_program(sqlite_sessions)
