"""The keyed, hash-chained audit log: appends are idempotent and race-safe; tampering is found by
`crisisdesk audit verify` (a rewrite recomputed without the key too), and the newest events
deleted are found against an anchor kept outside the database. Migration 0008 re-keys the chains
written before it, and refuses to re-key one that was already altered."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Session, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.audit import GENESIS_HASH, AuditEntry, chain_hash, read_anchors
from domain.models import AuditEvent, Program
from infra import audit_log
from infra.audit_log import append_audit, verify_chain
from infra.db import make_async_engine, make_sync_engine, session_factory, transaction
from infra.migrate import upgrade_database
from tests.helpers.databases import PG_ADMIN_URL, pg_url
from tests.helpers.programs import DemoProgram, make_program

CLI = str(Path(sys.executable).parent / "crisisdesk")
KEY = bytes(range(7, 39))
ENCODED_KEY = base64.b64encode(KEY).decode()


@pytest.fixture(autouse=True)
def audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process and the CLI it runs append and verify under the same key."""
    monkeypatch.setattr(audit_log, "_process_key", [KEY])
    monkeypatch.setenv("CRISISDESK_AUDIT_KEY", ENCODED_KEY)


def entry(program: DemoProgram, key: str, **detail: object) -> AuditEntry:
    return AuditEntry(
        event_key=key,
        program_id=program.program.id,
        action="incident.read",
        actor_id="staff-1",
        actor_role="clinician",
        at=datetime.now(UTC),
        incident_id=uuid.uuid4(),
        detail=dict(detail),
    )


def cli(database_url: str, *args: str, key: str = ENCODED_KEY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRISISDESK_DATABASE_URL": database_url, "CRISISDESK_AUDIT_KEY": key}
    return subprocess.run(
        [CLI, "audit", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def event_at(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, seq: int
) -> AuditEvent:
    async with sessions() as session:
        return (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.program_id == program.program.id, AuditEvent.seq == seq
                )
            )
        ).one()


async def test_concurrent_appends_form_one_unbroken_chain_per_program(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram
) -> None:
    other = await make_program(sessions, "other")
    await asyncio.gather(
        *(append_audit(sessions, [entry(program, f"a-{i}", n=i)]) for i in range(12)),
        *(append_audit(sessions, [entry(other, f"b-{i}", n=i)]) for i in range(6)),
    )
    await append_audit(sessions, [entry(program, "a-3", n=3)])  # a retried append
    checked, broken = await verify_chain(sessions)
    assert broken is None
    assert checked == 18
    async with sessions() as session:
        seqs = (
            await session.exec(
                select(AuditEvent.seq)
                .where(AuditEvent.program_id == program.program.id)
                .order_by(col(AuditEvent.seq))
            )
        ).all()
    assert list(seqs) == list(range(1, 13))


async def test_altered_event_is_named_by_audit_verify(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, database_url: str
) -> None:
    for i in range(5):
        await append_audit(sessions, [entry(program, f"e-{i}", n=i)])
    intact = cli(database_url, "verify")
    assert intact.returncode == 0, intact.stderr
    assert "5 events verified" in intact.stdout

    target = await event_at(sessions, program, 3)
    async with transaction(sessions) as session:
        await session.exec(
            update(AuditEvent)
            .where(col(AuditEvent.id) == target.id)
            .values(actor_id="someone-else")
        )
    tampered = cli(database_url, "verify")
    assert tampered.returncode == 1
    assert str(target.id) in tampered.stderr
    assert "seq 3" in tampered.stderr


async def test_a_rewrite_recomputed_as_plain_sha256_fails_verify(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, database_url: str
) -> None:
    """Whoever holds the database but not the key rewrites an event and recomputes the chain
    from there the way the unkeyed chain was made: verify names the rewritten event."""
    for i in range(4):
        await append_audit(sessions, [entry(program, f"r-{i}", n=i)])
    target = await event_at(sessions, program, 2)
    async with transaction(sessions) as session:
        rows = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.program_id == program.program.id, AuditEvent.seq >= 2)
                .order_by(col(AuditEvent.seq))
            )
        ).all()
        prev = target.prev_hash
        for row in rows:
            if row.seq == 2:
                row.detail = {"n": 99}
            row.prev_hash = prev
            row.hash = prev = chain_hash(
                prev,
                seq=row.seq,
                event_key=row.event_key,
                at=row.at,
                action=row.action,
                actor_id=row.actor_id,
                actor_role=row.actor_role,
                incident_id=row.incident_id,
                detail=row.detail,
            )
    rewritten = cli(database_url, "verify")
    assert rewritten.returncode == 1
    assert str(target.id) in rewritten.stderr
    assert "seq 2" in rewritten.stderr
    assert "keyed hash" in rewritten.stderr


async def test_verify_with_another_key_finds_the_chain_altered(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, database_url: str
) -> None:
    await append_audit(sessions, [entry(program, "k-0")])
    other_key = base64.b64encode(bytes(32)).decode()
    wrong = cli(database_url, "verify", key=other_key)
    assert wrong.returncode == 1
    assert "seq 1" in wrong.stderr


async def test_verify_with_an_anchor_finds_the_newest_events_deleted(
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
    database_url: str,
    tmp_path: Path,
) -> None:
    other = await make_program(sessions, "other")
    for i in range(4):
        await append_audit(sessions, [entry(program, f"n-{i}", n=i)])
    await append_audit(sessions, [entry(other, "o-0")])
    anchors = tmp_path / "anchors.jsonl"
    first = cli(database_url, "anchor", str(anchors))
    assert first.returncode == 0, first.stderr
    await append_audit(sessions, [entry(program, "n-4", n=4)])
    second = cli(database_url, "anchor", str(anchors))
    assert second.returncode == 0, second.stderr
    assert len(anchors.read_text().splitlines()) == 2  # appended, never rewritten
    assert cli(database_url, "verify", "--anchor", str(anchors)).returncode == 0

    # The two newest events of the program go: what is left is a whole, shorter chain.
    async with transaction(sessions) as session:
        for seq in (4, 5):
            await session.delete(await event_at(sessions, program, seq))
    assert cli(database_url, "verify").returncode == 0
    found = cli(database_url, "verify", "--anchor", str(anchors))
    assert found.returncode == 1
    assert f"program {program.program.id}" in found.stderr
    assert "seq 4" in found.stderr
    assert "missing" in found.stderr

    # A broken link is still found first, anchor or not.
    target = await event_at(sessions, program, 2)
    async with transaction(sessions) as session:
        await session.exec(
            update(AuditEvent).where(col(AuditEvent.id) == target.id).values(action="forged")
        )
    broken = cli(database_url, "verify", "--anchor", str(anchors))
    assert broken.returncode == 1
    assert str(target.id) in broken.stderr


async def test_an_anchor_can_be_written_to_stdout_for_the_operator_to_keep(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, database_url: str
) -> None:
    await append_audit(sessions, [entry(program, "s-0")])
    printed = cli(database_url, "anchor", "-")
    assert printed.returncode == 0, printed.stderr
    (anchor,) = read_anchors(printed.stdout)
    head = await event_at(sessions, program, 1)
    assert [(h.program_id, h.seq, h.hash) for h in anchor.heads] == [
        (program.program.id, 1, head.hash)
    ]


def test_an_anchor_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "anchors.jsonl"
    bogus.write_text("not an anchor\n")
    refused = cli(f"sqlite:///{tmp_path / 'x.db'}", "verify", "--anchor", str(bogus))
    assert refused.returncode == 2
    assert "line 1 is not an audit anchor" in refused.stderr


# --- migration 0008 re-keys what was written before it ---------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0007(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'legacy.db'}"
        upgrade_database(url, "0007")
        yield url
        return
    name = f"crisisdesk_legacy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade_database(pg_url(name), "0007")
    yield pg_url(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_legacy_chain(url: str, tamper_seq: int | None = None) -> uuid.UUID:
    """Three events chained the unkeyed way, as releases before 0008 wrote them; one of them
    altered afterwards when `tamper_seq` says which."""
    program = Program(slug="legacy", name="Legacy IOP")
    program_id = program.id
    engine = make_sync_engine(url)
    prev = GENESIS_HASH
    with Session(engine) as session:
        session.add(program)
        session.flush()
        for seq in (1, 2, 3):
            fields: dict[str, Any] = {
                "seq": seq,
                "event_key": f"legacy-{seq}",
                "at": datetime(2026, 1, seq, tzinfo=UTC),
                "action": "incident.read",
                "actor_id": "staff-1",
                "actor_role": "clinician",
                "incident_id": uuid.UUID(int=seq),
                "detail": {"seq": seq, "note_id": f"n{seq}"},
            }
            digest = chain_hash(prev, **fields)
            if seq == tamper_seq:
                fields["actor_id"] = "forged"
            session.add(AuditEvent(program_id=program_id, prev_hash=prev, hash=digest, **fields))
            prev = digest
        session.commit()
    engine.dispose()
    return program_id


async def test_migration_0008_rekeys_an_intact_legacy_chain(database_at_0007: str) -> None:
    program_id = write_legacy_chain(database_at_0007)
    upgrade_database(database_at_0007)

    engine = make_async_engine(database_at_0007)
    sessions = session_factory(engine)
    try:
        assert await verify_chain(sessions) == (3, None)
        async with sessions() as session:
            rows = (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.program_id == program_id)
                    .order_by(col(AuditEvent.seq))
                )
            ).all()
    finally:
        await engine.dispose()
    assert [r.detail for r in rows] == [{"seq": n, "note_id": f"n{n}"} for n in (1, 2, 3)]
    assert rows[0].prev_hash == GENESIS_HASH
    assert rows[0].hash != chain_hash(
        GENESIS_HASH,
        seq=1,
        event_key="legacy-1",
        at=rows[0].at,
        action="incident.read",
        actor_id="staff-1",
        actor_role="clinician",
        incident_id=rows[0].incident_id,
        detail=rows[0].detail,
    )


def test_migration_0008_refuses_to_rekey_an_altered_legacy_chain(database_at_0007: str) -> None:
    write_legacy_chain(database_at_0007, tamper_seq=2)
    with pytest.raises(RuntimeError, match="seq 2"):
        upgrade_database(database_at_0007)
