"""Append to and verify the keyed, hash-chained audit log (one chain per program), and anchor it.

The key (`CRISISDESK_AUDIT_KEY`, or a file under the data dir in development) is the process's:
each process sets it from its settings at start-up (`use_audit_key`); a process that has not
reads it from its environment on first use.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import false, func, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.audit import (
    GENESIS_HASH,
    MIN_KEY_BYTES,
    Anchor,
    AuditEntry,
    ChainHead,
    keyed_chain_hash,
    missing_since,
)
from domain.models import AuditEvent
from infra.settings import Settings, load_settings

_APPEND_ATTEMPTS = 8
DEV_AUDIT_KEY_FILE = "audit-key"


class AuditKeyError(ValueError):
    """The configured audit key cannot be used."""


def parse_audit_key(encoded: str) -> bytes:
    """A base64 key of at least 32 bytes."""
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise AuditKeyError("the audit key is not valid base64") from error
    if len(key) < MIN_KEY_BYTES:
        raise AuditKeyError(f"the audit key must be at least {MIN_KEY_BYTES} bytes")
    return key


def development_audit_key(data_dir: Path) -> bytes:
    """A key kept under the data directory, created on first use (development only)."""
    path = data_dir / DEV_AUDIT_KEY_FILE
    if path.exists():
        return parse_audit_key(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name, then linked: a process starting at the same moment
    # either wins or reads the complete file of the one that did.
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(os.urandom(MIN_KEY_BYTES)).decode())
    try:
        os.link(staging, path)
    except FileExistsError:
        pass  # another process made it first: theirs is the key
    finally:
        staging.unlink()
    return parse_audit_key(path.read_text())


def audit_key_for(settings: Settings) -> bytes:
    if settings.audit_key:
        return parse_audit_key(settings.audit_key)
    return development_audit_key(settings.data_dir)


_process_key: list[bytes] = []


def use_audit_key(key: bytes) -> None:
    """Set the key this process appends and verifies with (API, worker and CLI at start-up)."""
    if len(key) < MIN_KEY_BYTES:
        raise AuditKeyError(f"the audit key must be at least {MIN_KEY_BYTES} bytes")
    _process_key[:] = [key]


def audit_key() -> bytes:
    if not _process_key:
        use_audit_key(audit_key_for(load_settings()))
    return _process_key[0]


def _content(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers besides its predecessor's hash."""
    return {
        "seq": event.seq,
        "event_key": event.event_key,
        "at": event.at,
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "incident_id": event.incident_id,
        "detail": event.detail,
    }


async def append_in(session: AsyncSession, entry: AuditEntry) -> AuditEvent:
    """Append within the caller's transaction; a concurrent append makes it fail to retry."""
    await _lock_chain(session, entry.program_id)
    existing = (
        await session.exec(select(AuditEvent).where(AuditEvent.event_key == entry.event_key))
    ).first()
    if existing is not None:
        return existing
    last = (
        await session.exec(
            select(AuditEvent)
            .where(AuditEvent.program_id == entry.program_id)
            .order_by(col(AuditEvent.seq).desc())
            .limit(1)
        )
    ).first()
    prev_hash = last.hash if last else GENESIS_HASH
    content: dict[str, Any] = {
        "seq": last.seq + 1 if last else 1,
        "event_key": entry.event_key,
        "at": entry.at.astimezone(UTC),
        "action": entry.action,
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "incident_id": entry.incident_id,
        "detail": entry.detail,
    }
    event = AuditEvent(
        program_id=entry.program_id,
        prev_hash=prev_hash,
        hash=keyed_chain_hash(audit_key(), prev_hash, **content),
        **content,
    )
    session.add(event)
    await session.flush()
    return event


async def _lock_chain(session: AsyncSession, program_id: UUID) -> None:
    """Serialize appends to one program's chain: an advisory lock on PostgreSQL; on SQLite a
    write statement takes the database's write lock before the chain's head is read, so two
    activities appending at once wait for each other instead of colliding on a sequence."""
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(select(func.pg_advisory_xact_lock(chain_lock_key(program_id))))
    else:
        await session.exec(update(AuditEvent).where(false()).values(seq=AuditEvent.seq))


def chain_lock_key(program_id: UUID) -> int:
    """The PostgreSQL advisory lock of a program's chain: its id's first 8 bytes as a bigint."""
    return int.from_bytes(program_id.bytes[:8], "big", signed=True)


async def append_audit(
    factory: async_sessionmaker[AsyncSession], entries: Sequence[AuditEntry]
) -> None:
    """Append entries in a session of their own (see `append_audit_on`)."""
    async with factory() as session:
        await append_audit_on(session, entries)


async def append_audit_on(
    session: AsyncSession, entries: Sequence[AuditEntry], rows: Sequence[SQLModel] = ()
) -> None:
    """Append entries in their own transaction on `session` (whatever it held is committed
    first), retrying when another append won the race. `rows` are written in that same
    transaction: a record that must never exist without its audit event (a break-glass grant)."""
    await session.commit()
    for attempt in range(_APPEND_ATTEMPTS):
        try:
            session.add_all(rows)
            for entry in entries:
                await append_in(session, entry)
            await session.commit()
            return
        except (IntegrityError, OperationalError):
            await session.rollback()
            if attempt == _APPEND_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))


@dataclass(frozen=True)
class ChainBreak:
    program_id: UUID
    seq: int
    event_id: UUID | None
    problem: str


async def _all_events(factory: async_sessionmaker[AsyncSession]) -> Sequence[AuditEvent]:
    async with factory() as session:
        return (await session.exec(select(AuditEvent).order_by(col(AuditEvent.seq)))).all()


async def verify_chain(
    factory: async_sessionmaker[AsyncSession], anchors: Sequence[Anchor] = ()
) -> tuple[int, ChainBreak | None]:
    """Walk every program's chain under the audit key; answer how many events were checked and
    the first break. With anchors, an anchored head that is gone or differs is a break too (the
    newest events deleted leave a chain that is whole but short)."""
    key = audit_key()
    checked = 0
    events = await _all_events(factory)
    previous: dict[UUID, AuditEvent] = {}
    for event in events:
        last = previous.get(event.program_id)
        expected_seq = last.seq + 1 if last else 1
        expected_prev = last.hash if last else GENESIS_HASH

        def broken(problem: str, event: AuditEvent = event) -> ChainBreak:
            return ChainBreak(event.program_id, event.seq, event.id, problem)

        if event.seq != expected_seq:
            return checked, broken(f"sequence gap: expected {expected_seq}")
        if event.prev_hash != expected_prev:
            return checked, broken("previous hash does not match the event before it")
        if keyed_chain_hash(key, event.prev_hash, **_content(event)) != event.hash:
            return checked, broken("content does not match its keyed hash (altered)")
        previous[event.program_id] = event
        checked += 1
    found = {(e.program_id, e.seq): e.hash for e in events}
    for head, problem in missing_since(list(anchors), found):
        return checked, ChainBreak(head.program_id, head.seq, None, problem)
    return checked, None


async def chain_heads(factory: async_sessionmaker[AsyncSession], now: datetime) -> Anchor:
    """The newest event of every program's chain: what `crisisdesk audit anchor` writes down."""
    heads: dict[UUID, ChainHead] = {}
    for event in await _all_events(factory):
        heads[event.program_id] = ChainHead(
            program_id=event.program_id, seq=event.seq, hash=event.hash
        )
    return Anchor(at=now, heads=list(heads.values()))
