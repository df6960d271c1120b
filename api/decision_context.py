"""What the API reads and checks before a decision reaches the workflow: every id in it belongs
to the program (an owner is an active clinician or supervisor), the client's contacts and
consents for a disclosure, the client's own channels for a lost contact."""

from __future__ import annotations

import uuid

from sqlmodel import select

from api.deps import SessionDep
from api.problems import Problem
from domain.decisions import CLINICAL, ContactOnFile, Decision, DisclosureContext
from domain.disclosure import ConsentFacts, ContactFacts
from domain.models import Client as ClientRecord
from domain.models import Consent, EmergencyContact, Program, Staff
from domain.vocabulary import Channel, Role
from infra.records import in_program


async def check_owner(session: SessionDep, decision: Decision, program_id: uuid.UUID) -> None:
    """A new owner must be an active clinician or supervisor of the program: checked here, so
    a wrong id never reaches the workflow (or the case file's foreign key). An id the program
    does not have is 404; a staff member who cannot own an incident (now) is 409."""
    owner_id = getattr(decision, "owner_id", None)
    if owner_id is None:
        return
    owner = await in_program(session, Staff, owner_id, program_id)
    if owner is None:  # as an unknown client or contact is answered: not found, naming it
        message = "no such staff member in this program"
        raise Problem(
            404,
            "Not found",
            f"owner_id: {message}",
            errors=[{"field": "owner_id", "message": message}],
        )
    if not owner.active or Role(owner.role) not in CLINICAL:
        message = f"{owner.name} is not an active clinician or supervisor of this program"
        raise Problem(
            409,
            "Conflict",
            f"owner_id: {message}",
            errors=[{"field": "owner_id", "message": message}],
        )


async def channels_of_client(session: SessionDep, client_id: uuid.UUID) -> tuple[Channel, ...]:
    """How to reach the client themself when contact is lost: text, call, then email."""
    client = await session.get(ClientRecord, client_id)
    if client is None:
        return ()
    channels = [Channel.SMS, Channel.VOICE] if client.phone else []
    return (*channels, *([Channel.EMAIL] if client.email else []))


async def disclosure_context(session: SessionDep, client_id: uuid.UUID) -> DisclosureContext:
    """The client's contacts and consents, and whether their program is a Part 2 program, for
    the workflow's disclosure rules."""
    contacts = (
        await session.exec(select(EmergencyContact).where(EmergencyContact.client_id == client_id))
    ).all()
    consents = (await session.exec(select(Consent).where(Consent.client_id == client_id))).all()
    client = await session.get(ClientRecord, client_id)
    program = await session.get(Program, client.program_id) if client is not None else None
    return DisclosureContext(
        part2_program=program is not None and program.part2_program,
        contacts=[
            ContactOnFile(
                facts=ContactFacts(contact_id=c.id, kind=c.kind, name=c.name, facility=c.facility),
                channels=tuple(Channel(ch) for ch in c.channels),
                priority=c.priority,
            )
            for c in contacts
        ],
        consents=[
            ConsentFacts(
                contact_id=c.contact_id,
                kind=c.kind,
                expires_at=c.expires_at,
                revoked_at=c.revoked_at,
                consent_id=c.id,
            )
            for c in consents
        ],
    )
