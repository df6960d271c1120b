"""Fixtures every test module reuses: Temporal servers, isolated databases, an API with tokens.

- `ts_env`: Temporal's time-skipping test server, one per test (timers skip instantly).
- `dev_env`: the real Temporal dev server (session-wide; end-to-end tests).
- `database_url`: a fresh, migrated database per test, on SQLite and on PostgreSQL.
- `program`: a program with one staff member of each role and a client, their tokens at hand.
- `stack`: an HTTP client of the real FastAPI app, wired to a worker on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from domain.models import Client as ClientRecord
from domain.models import Program, Staff
from domain.models.clients import ClientCreate
from domain.models.programs import ProgramCreate, StaffCreate
from domain.vocabulary import Role
from infra.binaries import temporal_cli, temporal_test_server
from infra.codec import Keyring
from infra.db import make_async_engine, session_factory, transaction
from infra.migrate import upgrade_database
from infra.settings import Settings
from infra.temporal import data_converter_for, ensure_search_attributes
from worker import build_worker
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from tests.fakes.smtp import SmtpSink

pytest_plugins = ["tests.fakes.smtp", "tests.fakes.twilio"]

PG_ADMIN_URL = os.environ.get("CRISISDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
KEYRING = Keyring.generate("test1")
T = TypeVar("T")


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


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


def encrypted_client(env: WorkflowEnvironment) -> Client:
    """A client of the environment's server with the production converter and codec."""
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter_for(KEYRING),
    )


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
    upgrade_database(_pg_url(name))
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
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(loop_scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_async_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


# --- a program with staff ----------------------------------------------------------------


@dataclass
class DemoProgram:
    program: Program
    staff: dict[Role, Staff]
    tokens: dict[Role, str]
    client: ClientRecord

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def make_program(
    sessions: async_sessionmaker[AsyncSession], slug: str = "demo"
) -> DemoProgram:
    from infra.records import create_client, create_program, create_staff

    async with transaction(sessions) as session:
        program = await create_program(session, data=ProgramCreate(slug=slug, name=f"{slug} IOP"))
        staff: dict[Role, Staff] = {}
        tokens: dict[Role, str] = {}
        for role in Role:
            member, token = await create_staff(
                session,
                program_id=program.id,
                data=StaffCreate(
                    name=f"{role} of {slug}", role=role, on_call=role is Role.SUPERVISOR
                ),
            )
            staff[role], tokens[role] = member, token
        client = await create_client(
            session,
            program_id=program.id,
            data=ClientCreate(
                first_name="Ana", last_name="Ruiz", phone="+15035550100", zip="97201"
            ),
        )
    return DemoProgram(program=program, staff=staff, tokens=tokens, client=client)


@pytest_asyncio.fixture(loop_scope="session")
async def program(sessions: async_sessionmaker[AsyncSession]) -> DemoProgram:
    return await make_program(sessions)


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, tries: int = 1000) -> T:
    """Poll a projection the worker writes asynchronously until `check` answers something."""
    for _ in range(tries):
        found = await check()
        if found is not None and found is not False:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


# --- worker and API ----------------------------------------------------------------------


@dataclass
class Stack:
    client: Client
    task_queue: str
    settings: Settings
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    **settings_fields: Any,
) -> AsyncIterator[Stack]:
    """The app and a worker on `ts_env`; `settings_fields` point channels at local fakes."""
    worker_client = encrypted_client(ts_env)
    task_queue = f"tq-{uuid.uuid4()}"
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        task_queue=task_queue,
        encryption_keys=KEYRING.render(),
        **settings_fields,
    )
    worker: Worker = build_worker(worker_client, settings=settings, sessions=sessions)
    app = create_app(settings, temporal=worker_client)
    transport = httpx.ASGITransport(app=app)
    async with worker, httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Stack(client=worker_client, task_queue=task_queue, settings=settings, http=http)
    await app.state.runtime.close()


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
async def stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    async with running_stack(ts_env, database_url, sessions, tmp_path) as running:
        yield running
