"""The keyed audit chain (SPEC 6 and 10.2) on SQLite, without a server: appends chain under the
key, a chain recomputed without the key (plain SHA-256) fails, and anchors kept outside the
database find the newest events deleted."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.audit import (
    GENESIS_HASH,
    Anchor,
    AuditEntry,
    ChainHead,
    chain_hash,
    keyed_chain_hash,
    read_anchors,
)
from domain.models import AuditEvent, BreakGlassGrant
from infra import audit_log
from infra.audit_log import (
    DEV_AUDIT_KEY_FILE,
    AuditKeyError,
    append_audit,
    append_audit_on,
    append_in,
    audit_key,
    audit_key_for,
    chain_heads,
    chain_lock_key,
    development_audit_key,
    parse_audit_key,
    use_audit_key,
    verify_chain,
)
from infra.db import make_async_engine, session_factory, transaction
from infra.settings import Settings
from tests.helpers.databases import PG_ADMIN_URL, pg_url
from tests.helpers.programs import DemoProgram, make_program

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
AT = datetime(2026, 11, 14, 3, 27, 5, tzinfo=UTC)

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(autouse=True)
def process_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_log, "_process_key", [KEY])


def entry(program: DemoProgram, key: str, n: int = 0) -> AuditEntry:
    return AuditEntry(
        event_key=key,
        program_id=program.program.id,
        action="incident.read",
        actor_id="staff-1",
        actor_role="clinician",
        at=AT + timedelta(seconds=n),
        incident_id=uuid.UUID(int=n + 1),
        detail={"n": n},
    )


async def events_of(sessions: Sessions, program: DemoProgram) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.program_id == program.program.id)
            .order_by(col(AuditEvent.seq))
        )
        return list(rows.all())


async def appended(sessions: Sessions, program: DemoProgram, count: int) -> list[AuditEvent]:
    for n in range(count):
        await append_audit(sessions, [entry(program, f"e-{n}", n)])
    return await events_of(sessions, program)


def plain_hash(event: AuditEvent, prev: str) -> str:
    return chain_hash(
        prev,
        seq=event.seq,
        event_key=event.event_key,
        at=event.at,
        action=event.action,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        incident_id=event.incident_id,
        detail=event.detail,
    )


# --- the key -------------------------------------------------------------------------------


def test_a_key_is_base64_of_at_least_32_bytes() -> None:
    assert parse_audit_key(base64.b64encode(KEY).decode()) == KEY
    assert parse_audit_key(" " + base64.b64encode(KEY + b"x").decode() + "\n") == KEY + b"x"
    with pytest.raises(AuditKeyError, match="at least 32 bytes"):
        parse_audit_key(base64.b64encode(KEY[:31]).decode())
    encoded = base64.b64encode(KEY).decode()
    for wrong in ("not base64 at all!", encoded[:8] + "*" + encoded[8:]):
        with pytest.raises(AuditKeyError) as caught:
            parse_audit_key(wrong)
        assert str(caught.value) == "the audit key is not valid base64"


def test_the_development_key_is_made_once_under_the_data_dir_and_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "deploy" / "data"  # neither exists yet
    first = development_audit_key(data_dir)
    assert len(first) == 32
    path = data_dir / DEV_AUDIT_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert development_audit_key(data_dir) == first
    assert development_audit_key(tmp_path / "elsewhere") != first
    assert [p.name for p in data_dir.iterdir()] == [DEV_AUDIT_KEY_FILE]  # no staging file left


def test_the_configured_key_wins_over_the_development_key(tmp_path: Path) -> None:
    configured = Settings(data_dir=tmp_path, audit_key=base64.b64encode(OTHER_KEY).decode())
    assert audit_key_for(configured) == OTHER_KEY
    assert not (tmp_path / DEV_AUDIT_KEY_FILE).exists()
    assert audit_key_for(Settings(data_dir=tmp_path)) == development_audit_key(tmp_path)


def test_a_production_process_refuses_to_start_without_an_audit_key() -> None:
    with pytest.raises(ValueError, match="CRISISDESK_AUDIT_KEY is required in production"):
        Settings(
            environment="production",
            database_url="postgresql://db/crisisdesk",
            encryption_keys="k1:" + base64.b64encode(KEY).decode(),
            ack_key=base64.b64encode(KEY).decode(),
            decision_key=base64.b64encode(KEY).decode(),
            public_url="https://crisisdesk.example.org",
        )


def test_the_process_key_is_the_one_set_and_a_short_one_is_refused() -> None:
    use_audit_key(OTHER_KEY)
    assert audit_key() == OTHER_KEY
    with pytest.raises(AuditKeyError, match="at least 32 bytes"):
        use_audit_key(KEY[:16])
    assert audit_key() == OTHER_KEY


def test_without_a_key_set_the_process_reads_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_log, "_process_key", [])
    monkeypatch.setenv("CRISISDESK_AUDIT_KEY", base64.b64encode(OTHER_KEY).decode())
    assert audit_key() == OTHER_KEY


# --- appending ------------------------------------------------------------------------------


async def test_events_chain_under_the_key_from_the_genesis_hash(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    events = await appended(sqlite_sessions, demo, 3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    for event in events:
        assert event.hash == keyed_chain_hash(
            KEY,
            event.prev_hash,
            seq=event.seq,
            event_key=event.event_key,
            at=event.at,
            action=event.action,
            actor_id=event.actor_id,
            actor_role=event.actor_role,
            incident_id=event.incident_id,
            detail=event.detail,
        )
        assert event.hash != plain_hash(event, event.prev_hash)
    assert events[1].at == AT + timedelta(seconds=1)
    assert events[2].detail == {"n": 2}


async def test_an_append_retried_with_its_key_is_recorded_once(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    await appended(sqlite_sessions, demo, 2)
    await append_audit(sqlite_sessions, [entry(demo, "e-1", 7)])
    events = await events_of(sqlite_sessions, demo)
    assert [(e.event_key, e.detail) for e in events] == [("e-0", {"n": 0}), ("e-1", {"n": 1})]


async def test_each_program_has_a_chain_of_its_own(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    other = await make_program(sqlite_sessions, "other")
    await asyncio.gather(
        *(append_audit(sqlite_sessions, [entry(demo, f"a-{n}", n)]) for n in range(4)),
        *(append_audit(sqlite_sessions, [entry(other, f"b-{n}", n)]) for n in range(3)),
    )
    assert [e.seq for e in await events_of(sqlite_sessions, demo)] == [1, 2, 3, 4]
    theirs = await events_of(sqlite_sessions, other)
    assert [e.seq for e in theirs] == [1, 2, 3]
    assert theirs[0].prev_hash == GENESIS_HASH
    assert await verify_chain(sqlite_sessions) == (7, None)


async def test_rows_written_with_their_audit_event_commit_together(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    incident_id = uuid.uuid4()
    grant = BreakGlassGrant(
        incident_id=incident_id,
        program_id=demo.program.id,
        staff_id=demo.staff[next(iter(demo.staff))].id,
        reason="Client found unresponsive",
        granted_at=AT,
        expires_at=AT + timedelta(hours=1),
    )
    async with sqlite_sessions() as session:
        await append_audit_on(session, [entry(demo, "with-grant")], rows=[grant])
    async with sqlite_sessions() as session:
        stored = await session.get(BreakGlassGrant, grant.id)
    assert stored is not None
    assert stored.reason == "Client found unresponsive"
    assert [e.event_key for e in await events_of(sqlite_sessions, demo)] == ["with-grant"]


# --- verifying ------------------------------------------------------------------------------


async def test_an_intact_chain_verifies_every_event(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    await appended(sqlite_sessions, demo, 4)
    assert await verify_chain(sqlite_sessions) == (4, None)
    assert await verify_chain(sqlite_sessions, []) == (4, None)


async def test_a_chain_appended_under_another_key_does_not_verify(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    await appended(sqlite_sessions, demo, 2)
    use_audit_key(OTHER_KEY)
    checked, broken = await verify_chain(sqlite_sessions)
    assert checked == 0
    assert broken is not None
    assert broken.seq == 1
    assert broken.problem == "content does not match its keyed hash (altered)"


async def test_an_event_rewritten_with_a_recomputed_plain_sha256_fails(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    """Someone with the database but not the key rewrites an event and recomputes its hash and
    every later one as the unkeyed chain did: the keyed chain names the first rewritten event."""
    events = await appended(sqlite_sessions, demo, 4)
    async with transaction(sqlite_sessions) as session:
        prev = events[1].hash
        for event in events[2:]:
            row = await session.get(AuditEvent, event.id)
            assert row is not None
            row.actor_id = "someone-else"
            row.prev_hash = prev
            row.hash = prev = plain_hash(row, prev)
    checked, broken = await verify_chain(sqlite_sessions)
    assert checked == 2
    assert broken is not None
    assert (broken.program_id, broken.seq, broken.event_id) == (
        demo.program.id,
        3,
        events[2].id,
    )
    assert "altered" in broken.problem


async def test_a_changed_link_and_a_gap_are_named(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    events = await appended(sqlite_sessions, demo, 4)
    async with transaction(sqlite_sessions) as session:
        await session.exec(
            update(AuditEvent).where(col(AuditEvent.id) == events[2].id).values(prev_hash="f" * 64)
        )
    checked, broken = await verify_chain(sqlite_sessions)
    assert checked == 2
    assert broken is not None
    assert broken.seq == 3
    assert broken.problem == "previous hash does not match the event before it"

    async with transaction(sqlite_sessions) as session:
        row = await session.get(AuditEvent, events[1].id)
        await session.delete(row)
    checked, broken = await verify_chain(sqlite_sessions)
    assert checked == 1
    assert broken is not None
    assert broken.seq == 3
    assert broken.event_id == events[2].id
    assert broken.problem == "sequence gap: expected 2"


# --- anchors ------------------------------------------------------------------------------


async def test_the_anchor_holds_each_programs_newest_event(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    other = await make_program(sqlite_sessions, "other")
    ours = await appended(sqlite_sessions, demo, 3)
    await append_audit(sqlite_sessions, [entry(other, "b-0")])
    theirs = await events_of(sqlite_sessions, other)
    anchor = await chain_heads(sqlite_sessions, AT)
    assert anchor.at == AT
    assert sorted(anchor.heads, key=lambda h: h.seq) == [
        ChainHead(program_id=other.program.id, seq=1, hash=theirs[0].hash),
        ChainHead(program_id=demo.program.id, seq=3, hash=ours[2].hash),
    ]
    assert read_anchors(anchor.line() + "\n" + anchor.line()) == [anchor, anchor]


async def test_the_newest_events_deleted_since_an_anchor_are_found(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    events = await appended(sqlite_sessions, demo, 4)
    anchor = await chain_heads(sqlite_sessions, AT)
    await append_audit(sqlite_sessions, [entry(demo, "after-the-anchor", 9)])
    assert await verify_chain(sqlite_sessions, [anchor]) == (5, None)

    async with transaction(sqlite_sessions) as session:
        for event in (await events_of(sqlite_sessions, demo))[3:]:
            await session.delete(await session.get(AuditEvent, event.id))
    assert await verify_chain(sqlite_sessions) == (3, None)  # whole, but short
    checked, broken = await verify_chain(sqlite_sessions, [anchor])
    assert checked == 3
    assert broken is not None
    assert (broken.program_id, broken.seq, broken.event_id) == (demo.program.id, 4, None)
    assert broken.problem == f"anchored at {AT.isoformat()}, now missing"
    assert events[3].hash == anchor.heads[0].hash


async def test_an_anchored_event_with_another_hash_is_found(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    await appended(sqlite_sessions, demo, 2)
    anchor = Anchor(at=AT, heads=[ChainHead(program_id=demo.program.id, seq=2, hash="a" * 64)])
    checked, broken = await verify_chain(sqlite_sessions, [anchor])
    assert checked == 2
    assert broken is not None
    assert broken.seq == 2
    assert broken.problem == f"anchored at {AT.isoformat()}, hash differs"


def test_a_line_that_is_not_an_anchor_is_named() -> None:
    good = Anchor(at=AT, heads=[]).line()
    assert read_anchors(good + "\n   \n") == [Anchor(at=AT, heads=[])]
    with pytest.raises(ValueError, match="line 3 is not an audit anchor"):
        read_anchors(good + "\n" + "{not json\n")


def test_the_keyed_hash_is_hmac_sha256_of_the_predecessor_then_the_stored_form() -> None:
    import hmac

    fields = {
        "seq": 1,
        "event_key": "k",
        "at": AT,
        "action": "a",
        "actor_id": "s",
        "actor_role": "r",
        "incident_id": None,
        "detail": {},
    }
    stored = (
        '{"action":"a","actor_id":"s","actor_role":"r","at":"2026-11-14T03:27:05+00:00",'
        '"detail":{},"event_key":"k","incident_id":null,"seq":1}'
    )
    expected = hmac.new(KEY, (GENESIS_HASH + stored).encode(), hashlib.sha256).hexdigest()
    assert keyed_chain_hash(KEY, GENESIS_HASH, **fields) == expected  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        keyed_chain_hash(KEY[:31], GENESIS_HASH, **fields)  # type: ignore[arg-type]


# --- concurrency and time zones ------------------------------------------------------------


def test_a_chains_lock_is_its_programs_first_8_bytes_as_a_signed_bigint() -> None:
    high = uuid.UUID("ff000000-0000-4000-8000-000000000001")
    assert chain_lock_key(high) == int.from_bytes(high.bytes[:8], "big", signed=True)
    assert chain_lock_key(high) == -72057594037911552
    low = uuid.UUID("00000000-0000-4001-8000-0000000000ff")
    assert chain_lock_key(low) == 16385


async def test_an_append_that_keeps_failing_is_retried_then_raised_writing_nothing(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    """A row that cannot be written (its staff member does not exist) fails every attempt: the
    append backs off between attempts (10, 20, ... 70 ms), then raises; no event is left."""
    orphan = BreakGlassGrant(
        incident_id=uuid.uuid4(),
        program_id=demo.program.id,
        staff_id=uuid.uuid4(),
        reason="never written",
        granted_at=AT,
        expires_at=AT + timedelta(hours=1),
    )
    started = time.monotonic()
    async with sqlite_sessions() as session:
        with pytest.raises(IntegrityError):
            await append_audit_on(session, [entry(demo, "with-orphan")], rows=[orphan])
    waited = time.monotonic() - started
    assert 0.28 <= waited < 5
    assert await events_of(sqlite_sessions, demo) == []


async def test_an_entry_stamped_in_another_zone_verifies_whatever_the_hosts_zone(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        stamped = entry(demo, "zoned").model_copy(
            update={"at": datetime(2026, 11, 14, 9, 0, tzinfo=timezone(timedelta(hours=2)))}
        )
        await append_audit(sqlite_sessions, [stamped])
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
    (event,) = await events_of(sqlite_sessions, demo)
    assert event.at == datetime(2026, 11, 14, 7, 0, tzinfo=UTC)
    assert await verify_chain(sqlite_sessions) == (1, None)


async def test_an_event_restored_after_it_was_deleted_makes_the_chain_whole_again(
    sqlite_sessions: Sessions, demo: DemoProgram
) -> None:
    """Restoring a deleted event from a backup puts it back in its place in the chain, wherever
    the database stores the restored row."""
    events = await appended(sqlite_sessions, demo, 3)
    async with transaction(sqlite_sessions) as session:
        await session.delete(await session.get(AuditEvent, events[1].id))
    assert (await verify_chain(sqlite_sessions))[1] is not None
    async with transaction(sqlite_sessions) as session:
        session.add(AuditEvent.model_validate(events[1].model_dump()))
    assert await verify_chain(sqlite_sessions) == (3, None)


@pytest_asyncio.fixture(loop_scope="session")
async def pg_sessions(postgres_template: str) -> AsyncIterator[Sessions]:
    name = f"crisisdesk_fast_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    engine = make_async_engine(pg_url(name))
    yield session_factory(engine)
    await engine.dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def holds(sessions: Sessions, program_id: uuid.UUID) -> bool:
    """Whether another transaction holds the program's chain lock right now."""
    async with sessions() as other, other.begin():
        taken = await other.exec(select(func.pg_try_advisory_xact_lock(chain_lock_key(program_id))))
        return not taken.one()


async def test_on_postgresql_an_append_holds_its_programs_chain_until_it_commits(
    pg_sessions: Sessions,
) -> None:
    """Two appends to one chain at once wait for each other (an advisory lock per program), so
    neither reads a head the other is replacing; another program's chain is not held."""
    ours = await make_program(pg_sessions, "ours")
    theirs = await make_program(pg_sessions, "theirs")
    async with pg_sessions() as session:
        await append_in(session, entry(ours, "held"))
        assert await holds(pg_sessions, ours.program.id)
        assert not await holds(pg_sessions, theirs.program.id)
        await session.commit()
    assert not await holds(pg_sessions, ours.program.id)
    assert await verify_chain(pg_sessions) == (1, None)
