"""The hash-chained audit log: appends are idempotent and race-safe; tampering is detected."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.audit import AuditEntry
from domain.models import AuditEvent
from infra.audit_log import append_audit, verify_chain
from infra.db import transaction
from tests.helpers.programs import DemoProgram, make_program

CLI = str(Path(sys.executable).parent / "crisisdesk")


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
    env = {**os.environ, "CRISISDESK_DATABASE_URL": database_url}
    intact = subprocess.run([CLI, "audit", "verify"], env=env, capture_output=True, text=True)
    assert intact.returncode == 0, intact.stderr
    assert "5 events verified" in intact.stdout

    async with transaction(sessions) as session:
        target = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.program_id == program.program.id, AuditEvent.seq == 3
                )
            )
        ).one()
        await session.exec(
            update(AuditEvent)
            .where(col(AuditEvent.id) == target.id)
            .values(actor_id="someone-else")
        )
    tampered = subprocess.run([CLI, "audit", "verify"], env=env, capture_output=True, text=True)
    assert tampered.returncode == 1
    assert str(target.id) in tampered.stderr
    assert "seq 3" in tampered.stderr


async def test_deleted_event_breaks_the_chain(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram
) -> None:
    for i in range(4):
        await append_audit(sessions, [entry(program, f"d-{i}", n=i)])
    async with transaction(sessions) as session:
        victim = (await session.exec(select(AuditEvent).where(AuditEvent.seq == 2))).one()
        await session.delete(victim)
    _, broken = await verify_chain(sessions)
    assert broken is not None
    assert broken.seq == 3
