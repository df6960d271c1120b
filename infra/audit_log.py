"""Append to and verify the hash-chained audit log (one chain per program)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from uuid import UUID

from sqlalchemy import false, func, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.audit import GENESIS_HASH, AuditEntry, chain_hash
from domain.models import AuditEvent

_APPEND_ATTEMPTS = 8


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
    seq = last.seq + 1 if last else 1
    prev_hash = last.hash if last else GENESIS_HASH
    at = entry.at.astimezone(UTC)
    event = AuditEvent(
        program_id=entry.program_id,
        seq=seq,
        event_key=entry.event_key,
        at=at,
        action=entry.action,
        actor_id=entry.actor_id,
        actor_role=entry.actor_role,
        incident_id=entry.incident_id,
        detail=entry.detail,
        prev_hash=prev_hash,
        hash=chain_hash(
            prev_hash,
            seq=seq,
            event_key=entry.event_key,
            at=at,
            action=entry.action,
            actor_id=entry.actor_id,
            actor_role=entry.actor_role,
            incident_id=entry.incident_id,
            detail=entry.detail,
        ),
    )
    session.add(event)
    await session.flush()
    return event


async def _lock_chain(session: AsyncSession, program_id: UUID) -> None:
    """Serialize appends to one program's chain: an advisory lock on PostgreSQL; on SQLite a
    write statement takes the database's write lock before the chain's head is read, so two
    activities appending at once wait for each other instead of colliding on a sequence."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(program_id.bytes[:8], "big", signed=True)
        await session.exec(select(func.pg_advisory_xact_lock(key)))
    else:
        await session.exec(update(AuditEvent).where(false()).values(seq=AuditEvent.seq))


async def append_audit(
    factory: async_sessionmaker[AsyncSession], entries: Sequence[AuditEntry]
) -> None:
    """Append entries in a session of their own (see `append_audit_on`)."""
    async with factory() as session:
        await append_audit_on(session, entries)


async def append_audit_on(session: AsyncSession, entries: Sequence[AuditEntry]) -> None:
    """Append entries in their own transaction on `session` (whatever it held is committed
    first), retrying when another append won the race."""
    await session.commit()
    for attempt in range(_APPEND_ATTEMPTS):
        try:
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
    event_id: UUID
    problem: str


async def verify_chain(factory: async_sessionmaker[AsyncSession]) -> tuple[int, ChainBreak | None]:
    """Walk every program's chain; answer how many events were checked and the first break."""
    checked = 0
    async with factory() as session:
        events = (
            await session.exec(
                select(AuditEvent).order_by(col(AuditEvent.program_id), col(AuditEvent.seq))
            )
        ).all()
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
        recomputed = chain_hash(
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
        if recomputed != event.hash:
            return checked, broken("content does not match its hash (altered)")
        previous[event.program_id] = event
        checked += 1
    return checked, None
