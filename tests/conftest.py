"""Fixtures every test module reuses: Temporal servers, isolated databases, an API with tokens.

- `ts_env`: Temporal's time-skipping test server, one per test (timers skip instantly).
- `dev_env`: the real Temporal dev server (session-wide; end-to-end tests).
- `database_url`: a fresh, migrated database per test, on SQLite and on PostgreSQL.
- `program`: a program with one staff member of each role and a client, their tokens at hand.
- `stack`: an HTTP client of the real FastAPI app, wired to a worker on the time-skipping server.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.models import Staff
from infra.binaries import temporal_cli, temporal_test_server
from infra.db import make_async_engine, session_factory, transaction
from infra.migrate import upgrade_database
from infra.temporal import ensure_search_attributes
from tests.helpers.databases import PG_ADMIN_URL, pg_url
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack, running_stack
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from tests.fakes.smtp import SmtpSink
    from tests.fakes.twilio import FakeTwilio

pytest_plugins = [
    "tests.fakes.smtp",
    "tests.fakes.twilio",
    "tests.fakes.webhook",
    "tests.helpers.logging_state",
]


# --- Temporal ---------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: it starts in a fraction of a second, and time
    skipping is global to a server, so a workflow left by another test can never hold it."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server()
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--headless"],
    )
    yield env
    await env.shutdown()


# --- databases --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"crisisdesk_tmpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade_database(pg_url(name))
    yield name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A migrated database of its own for each test."""
    if request.param == "sqlite":
        path = tmp_path / "crisisdesk.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"crisisdesk_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield pg_url(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(loop_scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


# --- a program with staff ----------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def program(sessions: async_sessionmaker[AsyncSession]) -> DemoProgram:
    return await make_program(sessions)


# --- worker and API ----------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def reachable_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    program: DemoProgram,
) -> AsyncIterator[Stack]:
    """A stack whose worker mails through a local SMTP sink, and whose staff have addresses: a
    page reaches the staff member it names by email, not the console fallback."""
    async with transaction(sessions) as session:
        for role, member in program.staff.items():
            row = await session.get(Staff, member.id)
            assert row is not None
            row.email = member.email = f"{role}@{program.program.slug}.test"
    async with running_stack(
        ts_env, database_url, sessions, tmp_path, **smtp_sink.settings_fields()
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def channels_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
) -> AsyncIterator[Stack]:
    """A stack whose worker mails through the local SMTP sink and texts and calls through the
    fake Twilio; ack links are under http://crisisdesk.test."""
    async with running_stack(
        ts_env,
        database_url,
        sessions,
        tmp_path,
        **smtp_sink.settings_fields(),
        **fake_twilio.settings_fields(),
        public_url="http://crisisdesk.test",
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    async with running_stack(ts_env, database_url, sessions, tmp_path) as running:
        yield running
