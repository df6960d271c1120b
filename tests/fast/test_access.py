"""Who the API lets in and what they may read (SPEC 1 and 10.2), on SQLite without a server:
bearer tokens that expire and record their last use, roles, a program's scope, break-glass
grants, and the audit of each read."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from structlog.testing import capture_logs

from api.auth import (
    LAST_USE_GRANULARITY,
    TOKEN_LIFETIME,
    TOKEN_PREFIX,
    last_use_is_stale,
    new_token,
    token_expired,
    token_hash,
)
from api.deps import (
    IncidentAccess,
    audit_read,
    get_current_staff,
    get_runtime,
    get_session,
    get_temporal,
    incident_access,
    request_time,
    require,
)
from api.problems import Problem
from api.runtime import Runtime
from domain.models import AuditEvent, BreakGlassGrant, Staff
from domain.vocabulary import Role
from infra import audit_log
from infra.db import make_async_engine, session_factory, transaction
from infra.records import rotate_token
from infra.settings import Settings
from tests.helpers.programs import DemoProgram, make_program

Sessions = async_sessionmaker[AsyncSession]
KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def process_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_log, "_process_key", [KEY])


def bearer(token: str, scheme: str = "Bearer") -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)


async def staff_row(sessions: Sessions, staff_id: uuid.UUID) -> Staff:
    async with sessions() as session:
        row = await session.get(Staff, staff_id)
    assert row is not None
    return row


async def sign_in(sessions: Sessions, token: str, now: datetime, scheme: str = "Bearer") -> Staff:
    async with sessions() as session:
        return await get_current_staff(session, bearer(token, scheme), now)


async def refused(sessions: Sessions, credentials: HTTPAuthorizationCredentials | None) -> Problem:
    async with sessions() as session:
        with pytest.raises(Problem) as caught:
            await get_current_staff(session, credentials, datetime.now(UTC))
    return caught.value


# --- tokens --------------------------------------------------------------------------------


def test_tokens_are_prefixed_random_and_stored_as_their_sha256() -> None:
    token = new_token()
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) == len(TOKEN_PREFIX) + 43
    assert new_token() != token
    assert token_hash("cdk_x") == hashlib.sha256(b"cdk_x").hexdigest()


def test_a_token_lives_90_days_and_is_expired_from_its_end_on() -> None:
    end = datetime(2026, 11, 14, tzinfo=UTC)
    assert timedelta(days=90) == TOKEN_LIFETIME
    assert not token_expired(end, end - timedelta(microseconds=1))
    assert token_expired(end, end)
    assert token_expired(end, end + timedelta(seconds=1))


def test_a_last_use_is_written_once_a_minute_at_most() -> None:
    now = datetime(2026, 11, 14, tzinfo=UTC)
    assert timedelta(minutes=1) == LAST_USE_GRANULARITY
    assert last_use_is_stale(None, now)
    assert not last_use_is_stale(now - timedelta(seconds=59), now)
    assert last_use_is_stale(now - timedelta(minutes=1), now)
    assert last_use_is_stale(now - timedelta(hours=1), now)


async def test_a_valid_token_signs_in_and_records_its_first_use(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    now = datetime.now(UTC)
    member = demo.staff[Role.CLINICIAN]
    assert (await staff_row(sqlite_sessions, member.id)).last_used_at is None
    staff = await sign_in(sqlite_sessions, demo.tokens[Role.CLINICIAN], now)
    assert staff.id == member.id
    assert (await staff_row(sqlite_sessions, member.id)).last_used_at == now


async def test_the_last_use_is_not_rewritten_within_a_minute(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    token, member = demo.tokens[Role.SUPERVISOR], demo.staff[Role.SUPERVISOR]
    first = datetime.now(UTC)
    await sign_in(sqlite_sessions, token, first)
    await sign_in(sqlite_sessions, token, first + timedelta(seconds=59))
    assert (await staff_row(sqlite_sessions, member.id)).last_used_at == first
    later = first + timedelta(minutes=1)
    await sign_in(sqlite_sessions, token, later)
    assert (await staff_row(sqlite_sessions, member.id)).last_used_at == later


async def test_within_a_minute_a_signed_in_caller_costs_no_write(
    sqlite_url: str, demo: DemoProgram
) -> None:
    engine = make_async_engine(sqlite_url)
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE STAFF"):
            writes.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    sessions = session_factory(engine)
    first = datetime.now(UTC)
    for seconds in (0, 1, 30, 59):
        await sign_in(sessions, demo.tokens[Role.CLINICIAN], first + timedelta(seconds=seconds))
    assert len(writes) == 1
    await sign_in(sessions, demo.tokens[Role.CLINICIAN], first + timedelta(seconds=60))
    assert len(writes) == 2
    await engine.dispose()


class RefusesWrites(AsyncSession):
    """A session on a database that refuses writes (a read-only replica, a full disk)."""

    async def commit(self) -> None:
        raise DBAPIError("UPDATE staff", {}, PermissionError("attempt to write a readonly db"))


async def test_a_last_use_that_cannot_be_written_never_refuses_the_caller(
    sqlite_url: str, demo: DemoProgram
) -> None:
    engine = make_async_engine(sqlite_url)
    sessions = async_sessionmaker(engine, class_=RefusesWrites)
    structlog.contextvars.clear_contextvars()
    with capture_logs() as logs:
        staff = await sign_in(sessions, demo.tokens[Role.ADMIN], datetime.now(UTC))
    await engine.dispose()
    assert staff.id == demo.staff[Role.ADMIN].id
    assert logs == [
        {
            "event": "staff.last_use_not_recorded",
            "error_type": "DBAPIError",
            "log_level": "warning",
        }
    ]
    assert structlog.contextvars.get_contextvars()["actor"] == str(staff.id)
    structlog.contextvars.clear_contextvars()


async def test_an_expired_token_is_401_and_the_one_before_its_end_is_not(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    member = await staff_row(sqlite_sessions, demo.staff[Role.ADMIN].id)
    end = member.token_expires_at
    assert end - member.created_at >= TOKEN_LIFETIME - timedelta(seconds=5)
    token = demo.tokens[Role.ADMIN]
    assert (await sign_in(sqlite_sessions, token, end - timedelta(seconds=1))).id == member.id
    async with sqlite_sessions() as session:
        with pytest.raises(Problem) as caught:
            await get_current_staff(session, bearer(token), end)
    problem = caught.value
    assert (problem.status, problem.title) == (401, "Unauthorized")
    assert problem.detail == "the bearer token has expired"
    assert problem.headers == {"WWW-Authenticate": "Bearer"}


async def test_a_missing_wrong_or_foreign_scheme_token_is_401_with_a_challenge(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    missing = await refused(sqlite_sessions, None)
    assert (missing.status, missing.title) == (401, "Unauthorized")
    assert missing.detail == "a bearer token is required"
    assert missing.headers == {"WWW-Authenticate": "Bearer"}
    basic = await refused(sqlite_sessions, bearer(demo.tokens[Role.ADMIN], "Basic"))
    assert (basic.status, basic.title, basic.detail) == (
        401,
        "Unauthorized",
        "a bearer token is required",
    )
    unknown = await refused(sqlite_sessions, bearer("cdk_not-a-token"))
    assert (unknown.status, unknown.title) == (401, "Unauthorized")
    assert unknown.detail == "the bearer token is not valid"
    assert unknown.headers == {"WWW-Authenticate": "Bearer"}
    lower = await sign_in(sqlite_sessions, demo.tokens[Role.ADMIN], datetime.now(UTC), "bearer")
    assert lower.id == demo.staff[Role.ADMIN].id


async def test_rotating_ends_the_old_token_and_the_new_one_signs_in(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    old = demo.tokens[Role.FOLLOWUP]
    async with transaction(sqlite_sessions) as session:
        member = await session.get(Staff, demo.staff[Role.FOLLOWUP].id)
        assert member is not None
        new = await rotate_token(session, staff=member, token_lifetime=timedelta(days=7))
    assert new != old
    assert (await refused(sqlite_sessions, bearer(old))).detail == "the bearer token is not valid"
    staff = await sign_in(sqlite_sessions, new, datetime.now(UTC))
    assert staff.id == demo.staff[Role.FOLLOWUP].id
    assert staff.token_expires_at - datetime.now(UTC) <= timedelta(days=7)


def test_the_request_clock_is_now_in_utc() -> None:
    before = datetime.now(UTC)
    now = request_time()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


# --- roles ---------------------------------------------------------------------------------


async def test_a_role_outside_the_route_is_403_naming_both(demo: DemoProgram) -> None:
    check = require(Role.SUPERVISOR, Role.CLINICIAN)
    assert await check(demo.staff[Role.SUPERVISOR]) is demo.staff[Role.SUPERVISOR]
    assert await check(demo.staff[Role.CLINICIAN]) is demo.staff[Role.CLINICIAN]
    with pytest.raises(Problem) as caught:
        await check(demo.staff[Role.FOLLOWUP])
    problem = caught.value
    assert (problem.status, problem.title) == (403, "Forbidden")
    assert problem.detail == "a followup may not do this; it needs a clinician or a supervisor"


# --- break-glass scope ------------------------------------------------------------------------


async def grant(
    sessions: Sessions,
    owner: DemoProgram,
    staff: Staff,
    incident_id: uuid.UUID,
    granted_at: datetime,
    minutes: int = 60,
) -> BreakGlassGrant:
    row = BreakGlassGrant(
        incident_id=incident_id,
        program_id=owner.program.id,
        staff_id=staff.id,
        reason="Client unresponsive on video",
        granted_at=granted_at,
        expires_at=granted_at + timedelta(minutes=minutes),
    )
    async with transaction(sessions) as session:
        session.add(row)
    return row


async def access(sessions: Sessions, staff: Staff, incident: uuid.UUID, now: datetime) -> object:
    async with sessions() as session:
        return await incident_access(session, staff, incident, now)


async def test_without_a_grant_a_caller_reads_in_their_own_program_only(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    supervisor = demo.staff[Role.SUPERVISOR]
    found = await access(sqlite_sessions, supervisor, uuid.uuid4(), datetime.now(UTC))
    assert found == IncidentAccess(program_id=demo.program.id)
    assert IncidentAccess(program_id=demo.program.id).audit_detail() == {}


async def test_a_running_grant_opens_that_incident_of_the_other_program_for_its_supervisor(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    owner = await make_program(sqlite_sessions, "owner")
    incident, start = uuid.uuid4(), datetime.now(UTC)
    supervisor = demo.staff[Role.SUPERVISOR]
    row = await grant(sqlite_sessions, owner, supervisor, incident, start)
    opened = IncidentAccess(program_id=owner.program.id, grant_id=row.id)
    assert await access(sqlite_sessions, supervisor, incident, start) == opened
    assert opened.audit_detail() == {"break_glass_grant": str(row.id)}
    last = start + timedelta(minutes=60) - timedelta(microseconds=1)
    assert await access(sqlite_sessions, supervisor, incident, last) == opened
    own = IncidentAccess(program_id=demo.program.id)
    assert await access(sqlite_sessions, supervisor, incident, start + timedelta(minutes=60)) == own
    assert await access(sqlite_sessions, supervisor, incident, start - timedelta(seconds=1)) == own
    assert await access(sqlite_sessions, supervisor, uuid.uuid4(), start) == own


async def test_a_grant_opens_nothing_to_anyone_else_nor_to_a_deactivated_or_demoted_holder(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    owner = await make_program(sqlite_sessions, "owner")
    incident, start = uuid.uuid4(), datetime.now(UTC)
    supervisor = demo.staff[Role.SUPERVISOR]
    await grant(sqlite_sessions, owner, supervisor, incident, start)
    clinician = demo.staff[Role.CLINICIAN]
    own = IncidentAccess(program_id=demo.program.id)
    assert await access(sqlite_sessions, clinician, incident, start) == own
    inactive = supervisor.model_copy(update={"active": False})
    assert await access(sqlite_sessions, inactive, incident, start) == own
    demoted = supervisor.model_copy(update={"role": Role.CLINICIAN})
    assert await access(sqlite_sessions, demoted, incident, start) == own
    clinician_grant = await grant(sqlite_sessions, owner, clinician, incident, start)
    assert clinician_grant.staff_id == clinician.id
    assert await access(sqlite_sessions, clinician, incident, start) == own


async def test_of_two_grants_the_one_that_runs_longest_is_answered(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    owner = await make_program(sqlite_sessions, "owner")
    incident, start = uuid.uuid4(), datetime.now(UTC)
    supervisor = demo.staff[Role.SUPERVISOR]
    await grant(sqlite_sessions, owner, supervisor, incident, start, minutes=60)
    later = await grant(sqlite_sessions, owner, supervisor, incident, start, minutes=90)
    await grant(sqlite_sessions, owner, supervisor, incident, start, minutes=30)
    found = await access(sqlite_sessions, supervisor, incident, start + timedelta(minutes=1))
    assert found == IncidentAccess(program_id=owner.program.id, grant_id=later.id)


# --- the audit of reads ------------------------------------------------------------------------


async def audit_events(sessions: Sessions) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.exec(select(AuditEvent).order_by(col(AuditEvent.at)))
        return list(rows.all())


async def test_a_read_is_audited_in_the_callers_program_by_default(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    clinician, incident = demo.staff[Role.CLINICIAN], uuid.uuid4()
    before = datetime.now(UTC)
    async with sqlite_sessions() as session:
        await audit_read(session, clinician, "incident.read", incident_id=incident)
        await audit_read(session, clinician, "clients.listed", detail={"client_ids": ["c"]})
    first, second = await audit_events(sqlite_sessions)
    assert first.program_id == demo.program.id
    assert (first.action, first.actor_id, first.actor_role) == (
        "incident.read",
        str(clinician.id),
        "clinician",
    )
    assert first.incident_id == incident
    assert first.detail == {}
    assert first.event_key.startswith("incident.read:")
    assert first.at >= before
    assert (second.action, second.incident_id, second.detail) == (
        "clients.listed",
        None,
        {"client_ids": ["c"]},
    )
    assert second.event_key != first.event_key


async def test_a_break_glass_read_is_audited_in_the_owning_programs_chain(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    owner = await make_program(sqlite_sessions, "owner")
    supervisor = demo.staff[Role.SUPERVISOR]
    async with sqlite_sessions() as session:
        await audit_read(
            session,
            supervisor,
            "incident.read",
            incident_id=uuid.uuid4(),
            program_id=owner.program.id,
            detail={"break_glass_grant": "g"},
        )
    (event,) = await audit_events(sqlite_sessions)
    assert event.program_id == owner.program.id
    assert event.actor_id == str(supervisor.id)
    assert event.detail == {"break_glass_grant": "g"}


# --- the request's session and Temporal client ---------------------------------------------------


async def test_the_session_is_the_runtimes_and_closed_after_the_request(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_async_engine(sqlite_url)
    runtime = Runtime(
        settings=Settings(data_dir=tmp_path), engine=engine, sessions=session_factory(engine)
    )
    with pytest.raises(Problem) as caught:
        get_temporal(runtime)
    assert (caught.value.status, caught.value.title) == (503, "Service unavailable")
    assert caught.value.detail == "the workflow engine is not reachable yet"
    requests = get_session(runtime)
    session = await anext(requests)
    assert isinstance(session, AsyncSession)
    assert (await session.exec(select(Staff))).all() == []
    assert session.in_transaction()
    with pytest.raises(StopAsyncIteration):
        await anext(requests)
    assert not session.in_transaction()
    await engine.dispose()


class CutOnClose(AsyncSession):
    """A session whose connection the database cut (it restarted) while the answer was sent."""

    async def close(self) -> None:
        await super().close()
        raise DBAPIError("ROLLBACK", {}, ConnectionResetError("server closed the connection"))


async def test_a_session_the_database_cut_ends_the_request_quietly_with_a_warning(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_async_engine(sqlite_url)
    runtime = Runtime(
        settings=Settings(data_dir=tmp_path),
        engine=engine,
        sessions=async_sessionmaker(engine, class_=CutOnClose),
    )
    requests = get_session(runtime)
    await anext(requests)
    with capture_logs() as logs, pytest.raises(StopAsyncIteration):
        await anext(requests)
    await engine.dispose()
    assert logs == [
        {
            "event": "database.session_close_failed",
            "error_type": "DBAPIError",
            "log_level": "warning",
        }
    ]


def test_the_runtime_is_the_apps(tmp_path: Path) -> None:
    app = FastAPI()
    app.state.runtime = object()
    assert get_runtime(Request({"type": "http", "app": app})) is app.state.runtime
