"""A deployment of processes of its own for each drill: a Temporal dev server persisted to SQLite,
`crisisdesk worker` and `crisisdesk api` as OS processes, the machine's PostgreSQL and an SMTP
relay on loopback. A drill kills, restarts and stops these while a caseload is walked through.

The scale comes from `CRISISDESK_DRILLS`: `full` (`make drills`) walks 200 incidents through
the outages the issue names; anything else (the `make test` default) runs the short versions.

The poisoned-data drills reach a program through a `Desk` (tests/drills/poison.py): `desk` on
these processes, `ts_desk` on the time-skipping server with the real app and a worker
in-process, for the drills that need the protocol's minutes or 30 days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.audit_log import audit_key_for, use_audit_key
from infra.db import make_async_engine, session_factory
from infra.embedded import dev_server_command
from infra.seed import seed_demo
from infra.settings import Settings
from infra.temporal import data_converter_for
from tests.drills.caseload import Case, Caseload
from tests.drills.poison import POISON_FULL, POISON_SHORT, Desk, PoisonScale
from tests.fakes import HOST, free_port
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.helpers.programs import make_program
from tests.helpers.stack import KEYRING, running_stack
from tests.processes import ApiProcess, DevServer, WorkerProcess, crisisdesk_env, start_postgres


@dataclass(frozen=True)
class DrillScale:
    name: str
    cases: int
    in_flight: int
    pause: float  # seconds a clinician may take between two decisions
    worker_kills: int
    temporal_restarts: int
    temporal_down_s: float
    postgres_outage_s: float
    smtp_outage_s: float
    within_s: float  # the caseload must be walked to the end within this


FULL = DrillScale("full", 200, 40, 1.0, 5, 2, 10, 30, 60, 900)
SHORT = DrillScale("short", 12, 12, 0.3, 2, 1, 2, 4, 6, 240)


@pytest.fixture(scope="session")
def scale() -> DrillScale:
    return FULL if os.environ.get("CRISISDESK_DRILLS") == "full" else SHORT


@pytest.fixture(scope="session")
def poison(scale: DrillScale) -> PoisonScale:
    return POISON_FULL if scale.name == "full" else POISON_SHORT


@dataclass
class World:
    settings: Settings
    temporal: DevServer
    worker: WorkerProcess
    api: ApiProcess
    smtp: SmtpSink
    twilio: FakeTwilio
    http: httpx.AsyncClient
    tokens: dict[str, str]
    database_url: str

    def caseload(self, cases: list[Case], scale: DrillScale, seed: int) -> Caseload:
        return Caseload(
            self.http,
            self.tokens,
            cases,
            in_flight=scale.in_flight,
            pause=scale.pause,
            seed=seed,
        )

    async def new_cases(self, count: int) -> list[Case]:
        """A client with one emergency contact (an email address of its own) per case."""
        admin = {"Authorization": f"Bearer {self.tokens['admin']}"}
        cases = []
        for number in range(count):
            client = await self.http.post(
                "/v1/clients",
                json={
                    "first_name": "Drill",
                    "last_name": f"Client {number}",
                    "phone": f"+1503555{number:04d}",
                    "zip": "97201",
                },
                headers=admin,
            )
            assert client.status_code == 201, client.text
            email = f"contact-{number}-{uuid.uuid4().hex[:6]}@example.org"
            contact = await self.http.post(
                f"/v1/clients/{client.json()['id']}/contacts",
                json={
                    "name": f"Drill Contact {number}",
                    "relationship": "friend",
                    "kind": "personal",
                    "email": email,
                    "channels": ["email"],
                },
                headers=admin,
            )
            assert contact.status_code == 201, contact.text
            cases.append(
                Case(
                    number=number,
                    client_id=str(client.json()["id"]),
                    contact_id=str(contact.json()["id"]),
                    contact_email=email,
                    closes=number % 2 == 1,
                )
            )
        return cases


@pytest_asyncio.fixture(loop_scope="session")
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    smtp = SmtpSink()
    smtp.start()
    twilio = FakeTwilio()
    await twilio.up()
    api_port = free_port()
    fields: dict[str, object] = {
        **smtp.settings_fields(),
        **twilio.settings_fields(),
        "database_url": database_url,
        "data_dir": tmp_path,
        "temporal_address": f"{HOST}:{free_port()}",
        "temporal_ui_port": free_port(),
        "task_queue": f"drill-{uuid.uuid4().hex[:8]}",
        "encryption_keys": KEYRING.render(),
        "api_host": HOST,
        "api_port": api_port,
        "public_url": f"http://{HOST}:{api_port}",
        "log_format": "json",
    }
    settings = Settings(**fields)  # type: ignore[arg-type]
    # The drill's processes key the audit chain under the data dir; the checks verify with it.
    use_audit_key(audit_key_for(settings))
    engine = make_async_engine(database_url)
    tokens = {
        str(role): token for role, token in (await seed_demo(session_factory(engine))).items()
    }
    await engine.dispose()

    env = crisisdesk_env(fields)
    temporal = DevServer(
        [*dev_server_command(settings), "--headless"],
        settings.temporal_address,
        tmp_path / "temporal.log",
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    api = ApiProcess(env, tmp_path / "api.log")
    try:
        temporal.start()
        await asyncio.to_thread(temporal.wait_ready)
        worker.start()
        api.start()
        await asyncio.to_thread(api.wait_ready)
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            yield World(settings, temporal, worker, api, smtp, twilio, http, tokens, database_url)
    finally:
        api.stop()
        worker.stop()
        temporal.stop()
        await twilio.close()
        smtp.stop()
        # Whatever a drill did, the next test finds PostgreSQL up.
        await asyncio.to_thread(start_postgres, database_url)


@pytest_asyncio.fixture(loop_scope="session")
async def desk(world: World) -> AsyncIterator[Desk]:
    """The seeded demo program on the drill's own processes (real time)."""
    engine = make_async_engine(world.database_url)
    temporal = await Client.connect(
        world.settings.temporal_address, data_converter=data_converter_for(KEYRING)
    )
    try:
        yield Desk(
            http=world.http,
            tokens=world.tokens,
            sessions=session_factory(engine),
            temporal=temporal,
            smtp=world.smtp,
            twilio=world.twilio,
        )
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def ts_desk(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Desk]:
    """A program on the time-skipping server: the real FastAPI app and a worker in-process,
    PostgreSQL, aiosmtpd and the fake Twilio server."""
    smtp = SmtpSink()
    smtp.start()
    twilio = FakeTwilio()
    await twilio.up()
    demo = await make_program(sessions)
    try:
        async with (
            _logs_to(tmp_path / "worker.log"),
            running_stack(
                ts_env,
                database_url,
                sessions,
                tmp_path,
                **smtp.settings_fields(),
                **twilio.settings_fields(),
                public_url="http://crisisdesk.test",
            ) as stack,
        ):
            yield Desk(
                http=stack.http,
                tokens={str(role): token for role, token in demo.tokens.items()},
                sessions=sessions,
                temporal=stack.client,
                smtp=smtp,
                twilio=twilio,
                env=ts_env,
            )
    finally:
        await twilio.close()
        smtp.stop()


@contextlib.asynccontextmanager
async def _logs_to(path: Path) -> AsyncIterator[None]:
    """The in-process worker's and app's logs to a file, as a worker process writes its own:
    a drill's output is the figures it prints."""
    previous = structlog.get_config()
    temporal_logger = logging.getLogger("temporalio")
    with path.open("a") as out:
        handler = logging.StreamHandler(out)
        structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=out))
        temporal_logger.addHandler(handler)
        temporal_logger.propagate = False
        try:
            yield
        finally:
            temporal_logger.removeHandler(handler)
            temporal_logger.propagate = True
            structlog.configure(**previous)
