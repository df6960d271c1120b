"""Keyword-only service functions for the program's records (staff, clients, contacts, ...).

The API routes, the CLI and the demo seed all create records through these, so the rules
(hashing tokens, scoping to a program) live in one place. Callers own the transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import TOKEN_LIFETIME, new_token, token_hash
from domain.models import (
    Client,
    ClientDevice,
    Consent,
    EmergencyContact,
    Notification,
    Program,
    Resource,
    Staff,
)
from domain.models.clients import ClientCreate, ConsentCreate, EmergencyContactCreate
from domain.models.programs import ProgramCreate, StaffCreate
from domain.models.resources import ResourceCreate

_Row = TypeVar("_Row")


async def program_by_slug(session: AsyncSession, *, slug: str) -> Program | None:
    return (await session.exec(select(Program).where(Program.slug == slug))).first()


async def create_program(session: AsyncSession, *, data: ProgramCreate) -> Program:
    program = Program.model_validate(data)
    session.add(program)
    await session.flush()
    return program


async def create_staff(
    session: AsyncSession,
    *,
    program_id: uuid.UUID,
    data: StaffCreate,
    token_lifetime: timedelta = TOKEN_LIFETIME,
) -> tuple[Staff, str]:
    """Create a staff member; the bearer token is returned here once and never stored."""
    token = new_token()
    staff = Staff.model_validate(
        data,
        update={
            "program_id": program_id,
            "token_hash": token_hash(token),
            "token_expires_at": datetime.now(UTC) + token_lifetime,
        },
    )
    session.add(staff)
    await session.flush()
    return staff, token


async def rotate_token(
    session: AsyncSession, *, staff: Staff, token_lifetime: timedelta = TOKEN_LIFETIME
) -> str:
    """Issue the staff member a new token; the old one stops working at once."""
    token = new_token()
    staff.token_hash = token_hash(token)
    staff.token_expires_at = datetime.now(UTC) + token_lifetime
    session.add(staff)
    await session.flush()
    return token


async def staff_by_token(session: AsyncSession, *, token: str) -> Staff | None:
    found = await session.exec(select(Staff).where(Staff.token_hash == token_hash(token)))
    staff = found.first()
    return staff if staff is not None and staff.active else None


async def live_device_by_token(session: AsyncSession, *, token: str) -> ClientDevice | None:
    """The client device a device token names, unless it was revoked."""
    found = await session.exec(
        select(ClientDevice).where(ClientDevice.token_hash == token_hash(token))
    )
    device = found.first()
    return device if device is not None and device.revoked_at is None else None


async def create_client(
    session: AsyncSession, *, program_id: uuid.UUID, data: ClientCreate
) -> Client:
    client = Client.model_validate(data, update={"program_id": program_id})
    session.add(client)
    await session.flush()
    return client


async def add_contact(
    session: AsyncSession, *, client: Client, data: EmergencyContactCreate
) -> EmergencyContact:
    contact = EmergencyContact.model_validate(
        data.model_dump(exclude={"channels"}),
        update={
            "client_id": client.id,
            "program_id": client.program_id,
            "channels": [str(c) for c in data.channels],
        },
    )
    session.add(contact)
    await session.flush()
    return contact


async def add_consent(
    session: AsyncSession, *, client: Client, data: ConsentCreate, recorded_by: uuid.UUID
) -> Consent:
    consent = Consent.model_validate(
        data,
        update={
            "client_id": client.id,
            "program_id": client.program_id,
            "recorded_by": recorded_by,
        },
    )
    session.add(consent)
    await session.flush()
    return consent


async def add_resource(
    session: AsyncSession, *, program_id: uuid.UUID, data: ResourceCreate
) -> Resource:
    resource = Resource.model_validate(data, update={"program_id": program_id})
    session.add(resource)
    await session.flush()
    return resource


async def in_program(
    session: AsyncSession, model: type[_Row], ident: uuid.UUID, program_id: uuid.UUID
) -> _Row | None:
    """A record of the caller's program, or None (another program's record is not found)."""
    row = await session.get(model, ident)
    if row is None or getattr(row, "program_id", None) != program_id:
        return None
    return row


async def notification_by_key(session: AsyncSession, *, key: str) -> Notification | None:
    """The delivery attempt (message or page) recorded under this idempotency key."""
    found = await session.exec(select(Notification).where(Notification.idempotency_key == key))
    return found.first()


def request_digest(body: BaseModel) -> str:
    """A digest of a request body, binding an Idempotency-Key to what it was first sent with."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
