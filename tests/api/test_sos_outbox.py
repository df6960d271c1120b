"""SOS always answers (SPEC 10.1): a press Temporal cannot take is answered with the crisis
numbers at once, kept in the database, and opened by the drain as soon as Temporal is back (the
on-call clinician paged then); only a press the database cannot keep either is 503, with the
numbers.

Temporal goes away for real: the API's client reaches the server through a TCP link the test
cuts (connections reset, the port refused) and restores on the same port, so the client itself
must recover. Pages are counted where they arrive (a local Twilio-compatible API)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.incident import workflow_id_for
from domain.models import Incident, SosOutboxPress, Staff
from domain.vocabulary import Role
from infra.db import make_async_engine, make_sync_engine, session_factory, transaction
from infra.settings import Settings
from infra.signing_interceptors import DecisionSigning
from infra.sos_outbox import DELIVERY_BUDGET, SosOutboxDrain, sos_location, sos_opening
from infra.temporal import data_converter_for, start_incident
from tests.fakes import HOST, free_port
from tests.fakes.twilio import FakeTwilio
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import DECISION_KEY, KEYRING, encrypted_client
from tests.processes import ApiProcess, crisisdesk_env
from worker import build_worker

CLINICIAN_PHONE = "+15035550177"
CRISIS_LINE_PHONE = "+15035550111"
NEAR_PORTLAND = {"lat": 45.5079, "lon": -122.6908}
# The client's screen answers "within a second": the route's budget for Temporal plus the
# database's work, with room for a loaded test machine. Unbounded, the SDK's retries of an
# unreachable server would hold the answer for many seconds.
ANSWER_WITHIN_S = 2.0


class TemporalLink:
    """A TCP link from the API's Temporal client to the server, cut and restored at will."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self._target = (host, int(port))
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._connect, HOST, self.port)

    async def down(self) -> None:
        """Refuse new connections and reset the open ones, as a server that went away."""
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, server_writer}
        await asyncio.gather(self._pipe(reader, server_writer), self._pipe(server_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)


@dataclass
class OutboxStack:
    http: httpx.AsyncClient
    link: TemporalLink
    api_temporal: TemporalClient  # the API's client, through the link
    temporal: TemporalClient  # the worker's, straight to the server
    settings: Settings
    device: dict[str, str]

    def drain(
        self, sessions: async_sessionmaker[AsyncSession], budget: timedelta = DELIVERY_BUDGET
    ) -> SosOutboxDrain:
        """A drain as an API replica runs it, with the API's own client."""
        return SosOutboxDrain(
            sessions, lambda: self.api_temporal, task_queue=self.settings.task_queue, budget=budget
        )


async def prepare_program(
    http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], program: DemoProgram
) -> dict[str, str]:
    """The clinician on call with a phone, a crisis line in the directory; a device's header."""
    async with transaction(sessions) as session:
        clinician = await session.get(Staff, program.staff[Role.CLINICIAN].id)
        assert clinician is not None
        clinician.on_call, clinician.phone = True, CLINICIAN_PHONE
    admin = program.auth(Role.ADMIN)
    line = await http.post(
        "/v1/resources",
        json={
            "name": "Portland Crisis Line",
            "kind": "crisis_line",
            "phone": CRISIS_LINE_PHONE,
            "lat": 45.52,
            "lon": -122.68,
        },
        headers=admin,
    )
    assert line.status_code == 201, line.text
    device = await http.post(
        f"/v1/clients/{program.client.id}/devices", json={"label": "Ana's phone"}, headers=admin
    )
    assert device.status_code == 201, device.text
    return {"Authorization": f"Bearer {device.json()['token']}"}


def stack_settings(database_url: str, tmp_path: Path, **fields: Any) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        task_queue=f"tq-{uuid.uuid4()}",
        encryption_keys=KEYRING.render(),
        public_url="http://crisisdesk.test",
        **fields,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def outbox_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    program: DemoProgram,
) -> AsyncIterator[OutboxStack]:
    link = TemporalLink(ts_env.client.service_client.config.target_host)
    await link.up()
    api_temporal = await TemporalClient.connect(
        link.address,
        namespace=ts_env.client.namespace,
        data_converter=data_converter_for(KEYRING),
        interceptors=[DecisionSigning(DECISION_KEY)],  # as `connect_temporal` gives the API
    )
    settings = stack_settings(database_url, tmp_path, **fake_twilio.settings_fields())
    temporal = encrypted_client(ts_env)
    app = create_app(settings, temporal=api_temporal)
    transport = httpx.ASGITransport(app=app)
    async with (
        build_worker(temporal, settings=settings, sessions=sessions),
        httpx.AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        device = await prepare_program(http, sessions, program)
        yield OutboxStack(http, link, api_temporal, temporal, settings, device)
    await app.state.runtime.close()
    if link.is_up:
        await link.down()


async def press(
    http: httpx.AsyncClient, device: dict[str, str], **body: float
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.post("/v1/sos", json=body or None, headers=device)
    return response, time.monotonic() - started


def phones(answer: dict[str, Any]) -> list[str]:
    return [n["phone"] for n in answer["crisis_numbers"]]


async def kept(sessions: async_sessionmaker[AsyncSession]) -> list[SosOutboxPress]:
    async with sessions() as session:
        rows = await session.exec(select(SosOutboxPress).order_by(col(SosOutboxPress.pressed_at)))
        return list(rows.all())


async def workflow_status(
    temporal: TemporalClient, incident_id: str
) -> WorkflowExecutionStatus | None:
    try:
        described = await temporal.get_workflow_handle(
            workflow_id_for(uuid.UUID(incident_id))
        ).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status


def pages_about(fake: FakeTwilio, incident_id: str) -> list[Any]:
    return [
        m
        for m in fake.messages
        if m.form["To"] == CLINICIAN_PHONE and incident_id in m.form["Body"]
    ]


async def drained(drain: SosOutboxDrain, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Drain passes, as the loop makes them, until nothing is left kept."""

    async def nothing_left() -> bool:
        await drain.drain_once()
        return all(row.opened_at is not None for row in await kept(sessions))

    await eventually(nothing_left, "every kept press delivered", tries=250)


async def test_a_press_temporal_cannot_take_is_answered_kept_and_opened_when_it_is_back(
    outbox_stack: OutboxStack,
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
    fake_twilio: FakeTwilio,
) -> None:
    stack = outbox_stack
    await stack.link.down()

    first, took = await press(stack.http, stack.device, **NEAR_PORTLAND)
    assert first.status_code == 202, first.text
    assert took < ANSWER_WITHIN_S
    answer = first.json()
    assert answer["queued"] is True and answer["joined"] is False
    assert phones(answer) == ["911", "988", CRISIS_LINE_PHONE]
    assert "911" in answer["message"]
    incident_id = answer["incident_id"]
    # A second press in the join window joins the incident the first one will open.
    again, took = await press(stack.http, stack.device)
    assert again.status_code == 202, again.text
    assert took < ANSWER_WITHIN_S
    assert again.json()["incident_id"] == incident_id
    assert again.json()["joined"] is True
    rows = await kept(sessions)
    assert [(str(r.incident_id), r.joins, r.opened_at) for r in rows] == [
        (incident_id, False, None),
        (incident_id, True, None),
    ]
    assert rows[0].location == NEAR_PORTLAND
    assert rows[0].client_id == program.client.id
    assert await workflow_status(stack.temporal, incident_id) is None
    # Temporal is still away: the press stays kept, free for the next pass.
    assert await stack.drain(sessions, budget=timedelta(milliseconds=200)).drain_once() == 0
    assert [(r.opened_at, r.claimed_until) for r in await kept(sessions)] == [(None, None)] * 2

    await stack.link.up()
    await drained(stack.drain(sessions), sessions)

    assert await workflow_status(stack.temporal, incident_id) is WorkflowExecutionStatus.RUNNING

    async def paged() -> bool:
        return bool(pages_about(fake_twilio, incident_id))

    await eventually(paged, "the page at the on-call clinician's phone", tries=1500)
    detail = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["origin"] == "sos"
    assert detail.json()["owner"] == str(program.staff[Role.CLINICIAN].id)
    assert detail.json()["location"]["lat"] == NEAR_PORTLAND["lat"]
    assert detail.json()["sos_presses"] == 2
    # The incident opened when the client pressed, not when Temporal came back.
    assert detail.json()["opened_at"] == rows[0].pressed_at.isoformat().replace("+00:00", "Z")

    # Temporal is back: the next press joins the incident at once.
    third, _ = await press(stack.http, stack.device)
    assert third.status_code == 201, third.text
    assert third.json()["incident_id"] == incident_id
    assert (third.json()["joined"], third.json()["queued"]) == (True, False)
    assert len(await kept(sessions)) == 2


async def test_a_press_before_the_api_ever_reached_temporal_is_kept(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    program: DemoProgram,
) -> None:
    """The API process started while Temporal was down: it has no client yet."""
    app = create_app(stack_settings(database_url, tmp_path))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        device = await prepare_program(http, sessions, program)
        pressed, took = await press(http, device, **NEAR_PORTLAND)
    await app.state.runtime.close()

    assert pressed.status_code == 202, pressed.text
    assert took < ANSWER_WITHIN_S
    assert phones(pressed.json()) == ["911", "988", CRISIS_LINE_PHONE]
    assert [str(r.incident_id) for r in await kept(sessions)] == [pressed.json()["incident_id"]]


async def test_a_press_the_database_cannot_keep_either_is_503_with_the_numbers(
    outbox_stack: OutboxStack, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    """The database reads, but refuses the write (its disk is full): nothing takes the press."""
    stack = outbox_stack
    engine = make_sync_engine(database_url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION disk_full() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device'; "
                "END $$ LANGUAGE plpgsql"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER disk_full BEFORE INSERT ON sos_outbox "
                "FOR EACH ROW EXECUTE FUNCTION disk_full()"
            )
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER disk_full BEFORE INSERT ON sos_outbox "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
    engine.dispose()
    await stack.link.down()

    refused, took = await press(stack.http, stack.device, **NEAR_PORTLAND)

    assert refused.status_code == 503, refused.text
    assert took < ANSWER_WITHIN_S
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert phones(refused.json()) == ["911", "988", CRISIS_LINE_PHONE]
    assert "911" in refused.json()["message"]
    assert await kept(sessions) == []


async def test_a_press_with_temporal_and_the_database_both_down_is_503_with_the_numbers(
    ts_env: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> None:
    """Not even the device can be checked: the screen still shows 911 and 988."""
    unreachable = (
        f"postgresql://postgres@{HOST}:{free_port()}/crisisdesk"
        if database_url.startswith("postgresql")
        else f"sqlite:///{tmp_path / 'gone' / 'crisisdesk.db'}"
    )
    link = TemporalLink(ts_env.client.service_client.config.target_host)
    await link.up()
    api_temporal = await TemporalClient.connect(
        link.address, namespace=ts_env.client.namespace, data_converter=data_converter_for(KEYRING)
    )
    await link.down()
    app = create_app(stack_settings(unreachable, tmp_path), temporal=api_temporal)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        refused, took = await press(http, {"Authorization": "Bearer cdk_some-device"})
    await app.state.runtime.close()

    assert refused.status_code == 503, refused.text
    assert took < ANSWER_WITHIN_S
    assert phones(refused.json()) == ["911", "988"]
    assert "988" in refused.json()["message"]


async def test_two_drains_racing_open_a_kept_press_once(
    outbox_stack: OutboxStack,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    fake_twilio: FakeTwilio,
) -> None:
    stack = outbox_stack
    await stack.link.down()
    pressed, _ = await press(stack.http, stack.device)
    assert pressed.status_code == 202, pressed.text
    incident_id = pressed.json()["incident_id"]
    await stack.link.up()

    # Replicas: each drain has an engine (a connection pool) of its own.
    engines = [make_async_engine(database_url) for _ in range(4)]
    drains = [stack.drain(session_factory(engine)) for engine in engines]
    delivered = await asyncio.gather(*(d.drain_once() for d in drains))
    for engine in engines:
        await engine.dispose()

    assert sorted(delivered) == [0, 0, 0, 1]
    [row] = await kept(sessions)
    assert row.opened_at is not None and row.claimed_until is None
    assert row.attempts == 1  # claimed once: one start
    assert await workflow_status(stack.temporal, incident_id) is WorkflowExecutionStatus.RUNNING
    assert await stack.drain(sessions).drain_once() == 0

    async def one_incident() -> bool:
        async with sessions() as session:
            return len((await session.exec(select(Incident))).all()) == 1

    await eventually(one_incident, "the incident's projection")

    async def paged() -> bool:
        return bool(pages_about(fake_twilio, incident_id))

    await eventually(paged, "the page at the on-call clinician's phone", tries=1500)


async def test_a_press_claimed_by_a_drain_that_died_waits_for_its_lease(
    outbox_stack: OutboxStack, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stack = outbox_stack
    await stack.link.down()
    pressed, _ = await press(stack.http, stack.device)
    assert pressed.status_code == 202, pressed.text
    await stack.link.up()
    [row] = await kept(sessions)
    async with transaction(sessions) as session:
        held = await session.get(SosOutboxPress, row.id)
        assert held is not None
        held.claimed_until = datetime.now(UTC) + timedelta(minutes=1)

    assert await stack.drain(sessions).drain_once() == 0  # another replica holds it

    async with transaction(sessions) as session:
        held = await session.get(SosOutboxPress, row.id)
        assert held is not None
        held.claimed_until = datetime.now(UTC) - timedelta(seconds=1)  # that replica died
    assert await stack.drain(sessions).drain_once() == 1
    status = await workflow_status(stack.temporal, pressed.json()["incident_id"])
    assert status is WorkflowExecutionStatus.RUNNING


async def test_a_kept_press_whose_start_got_through_late_is_not_opened_twice(
    outbox_stack: OutboxStack, sessions: async_sessionmaker[AsyncSession], program: DemoProgram
) -> None:
    """The route gave up on Temporal, but its start reached the server after all: the drain's
    start finds the incident started, and that is done."""
    stack = outbox_stack
    await stack.link.down()
    pressed, _ = await press(stack.http, stack.device, **NEAR_PORTLAND)
    assert pressed.status_code == 202, pressed.text
    await stack.link.up()
    [row] = await kept(sessions)
    opening = sos_opening(
        incident_id=row.incident_id,
        program_id=row.program_id,
        client_id=row.client_id,
        location=sos_location(None, program.client.zip),
        owner_id=program.staff[Role.CLINICIAN].id,
        pressed_at=row.pressed_at,
    )
    await start_incident(stack.temporal, opening, task_queue=stack.settings.task_queue)
    handle = stack.temporal.get_workflow_handle(workflow_id_for(row.incident_id))
    first_run = (await handle.describe()).run_id

    assert await stack.drain(sessions).drain_once() == 1

    assert (await handle.describe()).run_id == first_run
    [row] = await kept(sessions)
    assert row.opened_at is not None


async def test_the_api_process_drains_kept_presses_once_temporal_is_back(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    fake_twilio: FakeTwilio,
    program: DemoProgram,
) -> None:
    """`crisisdesk api` as a real process: its Temporal goes away, a press is answered and kept,
    and the process's own drain opens it when Temporal is back."""
    link = TemporalLink(ts_env.client.service_client.config.target_host)
    await link.up()
    api_port = free_port()
    fields: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "temporal_address": link.address,
        "temporal_namespace": ts_env.client.namespace,
        "task_queue": f"tq-{uuid.uuid4()}",
        "encryption_keys": KEYRING.render(),
        "api_host": HOST,
        "api_port": api_port,
        "public_url": f"http://{HOST}:{api_port}",
        **fake_twilio.settings_fields(),
    }
    settings = Settings(**fields)  # type: ignore[arg-type]
    api = ApiProcess(crisisdesk_env(fields), tmp_path / "api.log")
    api.start()
    try:
        await asyncio.to_thread(api.wait_ready)
        async with (
            build_worker(encrypted_client(ts_env), settings=settings, sessions=sessions),
            httpx.AsyncClient(base_url=api.url, timeout=10) as http,
        ):
            device = await prepare_program(http, sessions, program)
            await link.down()
            pressed, took = await press(http, device, **NEAR_PORTLAND)
            assert pressed.status_code == 202, pressed.text
            assert took < ANSWER_WITHIN_S
            assert phones(pressed.json()) == ["911", "988", CRISIS_LINE_PHONE]
            incident_id = pressed.json()["incident_id"]

            await link.up()

            async def opened() -> bool:
                return all(row.opened_at is not None for row in await kept(sessions))

            await eventually(opened, "the API process's drain opening the press", tries=1500)
            status = await workflow_status(encrypted_client(ts_env), incident_id)
            assert status is WorkflowExecutionStatus.RUNNING

            async def paged() -> bool:
                return bool(pages_about(fake_twilio, incident_id))

            await eventually(paged, "the page at the on-call clinician's phone", tries=1500)
    finally:
        api.stop()
        if link.is_up:
            await link.down()
