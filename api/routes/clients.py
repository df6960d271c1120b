"""Clients, their emergency contacts and consents (admin writes; clinicians read)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlmodel import col, func, select

from api.auth import new_token, token_hash
from api.deps import Admin, DirectoryReader, SessionDep, audit_read, require
from api.problems import Problem, not_found
from domain.audit import AuditEntry
from domain.models import Client, ClientDevice, Consent, EmergencyContact
from domain.models.clients import (
    ClientCreate,
    ClientDeviceCreate,
    ClientDevicePublic,
    ClientDeviceWithToken,
    ClientList,
    ClientPublic,
    ConsentCreate,
    ConsentList,
    ConsentPublic,
    ConsentRevoke,
    EmergencyContactCreate,
    EmergencyContactList,
    EmergencyContactPublic,
)
from domain.models.programs import Staff
from domain.vocabulary import Role
from infra.audit_log import append_audit_on
from infra.records import add_consent, add_contact, create_client, in_program

router = APIRouter(prefix="/v1/clients", tags=["clients"])

# SPEC 10.2: an admin or the clinician the client tells may end a consent.
ConsentRevoker = Annotated[Staff, Depends(require(Role.ADMIN, Role.CLINICIAN))]


async def _client(session: SessionDep, client_id: uuid.UUID, program_id: uuid.UUID) -> Client:
    client = await in_program(session, Client, client_id, program_id)
    if client is None:
        raise not_found("client")
    return client


@router.post("", status_code=status.HTTP_201_CREATED)
async def register_client(body: ClientCreate, admin: Admin, session: SessionDep) -> ClientPublic:
    """Register a client of the program."""
    client = await create_client(session, program_id=admin.program_id, data=body)
    await session.commit()
    return ClientPublic.model_validate(client)


@router.get("")
async def list_clients(
    staff: DirectoryReader,
    session: SessionDep,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> ClientList:
    """Clients of the caller's program, by last name."""
    scope = Client.program_id == staff.program_id
    rows = (
        await session.exec(
            select(Client)
            .where(scope)
            .order_by(col(Client.last_name), col(Client.id))
            .offset(offset)
            .limit(limit)
        )
    ).all()
    count = (await session.exec(select(func.count()).where(scope))).one()
    listed = ClientList(data=[ClientPublic.model_validate(r) for r in rows], count=count)
    if rows:  # names and phone numbers: reading them is audited
        ids = [str(c.id) for c in listed.data]
        await audit_read(session, staff, "clients.listed", detail={"client_ids": ids})
    return listed


@router.get("/{client_id}")
async def get_client(
    client_id: uuid.UUID, staff: DirectoryReader, session: SessionDep
) -> ClientPublic:
    """One client of the caller's program (name and phone: reading it is audited)."""
    client = ClientPublic.model_validate(await _client(session, client_id, staff.program_id))
    await audit_read(session, staff, "client.read", detail={"client_id": str(client_id)})
    return client


@router.post("/{client_id}/contacts", status_code=status.HTTP_201_CREATED)
async def add_emergency_contact(
    client_id: uuid.UUID, body: EmergencyContactCreate, admin: Admin, session: SessionDep
) -> EmergencyContactPublic:
    """Add an emergency contact with its channels in the order they are tried."""
    client = await _client(session, client_id, admin.program_id)
    contact = await add_contact(session, client=client, data=body)
    await session.commit()
    return EmergencyContactPublic.model_validate(contact)


@router.get("/{client_id}/contacts")
async def list_emergency_contacts(
    client_id: uuid.UUID, staff: DirectoryReader, session: SessionDep
) -> EmergencyContactList:
    """The client's emergency contacts in priority order."""
    client = await _client(session, client_id, staff.program_id)
    rows = (
        await session.exec(
            select(EmergencyContact)
            .where(EmergencyContact.client_id == client.id)
            .order_by(col(EmergencyContact.priority), col(EmergencyContact.created_at))
        )
    ).all()
    listed = EmergencyContactList(
        data=[EmergencyContactPublic.model_validate(r) for r in rows], count=len(rows)
    )
    await audit_read(session, staff, "contacts.listed", detail={"client_id": str(client_id)})
    return listed


@router.post("/{client_id}/consents", status_code=status.HTTP_201_CREATED)
async def record_consent(
    client_id: uuid.UUID, body: ConsentCreate, admin: Admin, session: SessionDep
) -> ConsentPublic:
    """Record a disclosure consent (or a 42 CFR Part 2 written consent) for a contact."""
    client = await _client(session, client_id, admin.program_id)
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        message = "the consent has already expired; record a consent that is current"
        raise Problem(  # 409, not 422: the document cannot state "later than now"
            409,
            "Conflict",
            f"expires_at: {message}",
            errors=[{"field": "expires_at", "message": message}],
        )
    if body.contact_id is not None:
        contact = await session.get(EmergencyContact, body.contact_id)
        if contact is None or contact.client_id != client.id:
            raise Problem(  # as for an incident's unknown client_id: no such record
                404,
                "Not found",
                "contact_id: not a contact of this client",
                errors=[{"field": "contact_id", "message": "not a contact of this client"}],
            )
    consent = await add_consent(session, client=client, data=body, recorded_by=admin.id)
    await session.commit()
    return ConsentPublic.model_validate(consent)


@router.get("/{client_id}/consents")
async def list_consents(client_id: uuid.UUID, admin: Admin, session: SessionDep) -> ConsentList:
    client = await _client(session, client_id, admin.program_id)
    rows = (
        await session.exec(
            select(Consent).where(Consent.client_id == client.id).order_by(col(Consent.created_at))
        )
    ).all()
    listed = ConsentList(data=[ConsentPublic.model_validate(r) for r in rows], count=len(rows))
    await audit_read(session, admin, "consents.listed", detail={"client_id": str(client_id)})
    return listed


@router.post("/{client_id}/consents/{consent_id}/revoke")
async def revoke_consent(
    client_id: uuid.UUID,
    consent_id: uuid.UUID,
    body: ConsentRevoke,
    staff: ConsentRevoker,
    session: SessionDep,
) -> ConsentPublic:
    """End a consent (the client withdrew it): no disclosure rests on it from now, and a
    running contact ladder sends nothing more to a contact it was the basis for. Audited;
    revoking it again changes nothing."""
    client = await _client(session, client_id, staff.program_id)
    consent = await session.get(Consent, consent_id)
    if consent is None or consent.client_id != client.id:
        raise not_found("consent")
    if consent.revoked_at is None:
        consent.revoked_at = datetime.now(UTC)
        consent.revoked_by, consent.revocation_reason = staff.id, body.reason
        entry = AuditEntry(
            event_key=f"consent.revoked:{consent.id}",
            program_id=staff.program_id,
            action="consent.revoked",
            actor_id=str(staff.id),
            actor_role=staff.role,
            at=consent.revoked_at,
            detail={
                "consent_id": str(consent.id),
                "client_id": str(client.id),
                "contact_id": str(consent.contact_id) if consent.contact_id else None,
                "kind": consent.kind,
            },
        )
        await append_audit_on(session, [entry], rows=[consent])
    return ConsentPublic.model_validate(consent)


@router.post("/{client_id}/devices", status_code=status.HTTP_201_CREATED)
async def register_device(
    client_id: uuid.UUID, body: ClientDeviceCreate, admin: Admin, session: SessionDep
) -> ClientDeviceWithToken:
    """Issue a device token for the client's SOS button; shown this once, stored hashed."""
    client = await _client(session, client_id, admin.program_id)
    token = new_token()
    device = ClientDevice(
        client_id=client.id,
        program_id=client.program_id,
        label=body.label,
        token_hash=token_hash(token),
    )
    session.add(device)
    await session.commit()
    return ClientDeviceWithToken.model_validate(device, update={"token": token})


@router.post("/{client_id}/devices/{device_id}/revoke")
async def revoke_device(
    client_id: uuid.UUID, device_id: uuid.UUID, admin: Admin, session: SessionDep
) -> ClientDevicePublic:
    """A revoked device's SOS presses are refused (401) and open nothing."""
    client = await _client(session, client_id, admin.program_id)
    device = await session.get(ClientDevice, device_id)
    if device is None or device.client_id != client.id:
        raise not_found("device")
    device.revoked_at = device.revoked_at or datetime.now(UTC)
    await session.commit()
    return ClientDevicePublic.model_validate(device)
