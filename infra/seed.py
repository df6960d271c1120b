"""Demo data for the embedded stack: program `demo`, one staff member per role, clients with
emergency contacts and consents, and local resources around a few real US zip codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import new_token, token_hash
from domain.models import Client, Staff
from domain.models.clients import ClientCreate, ConsentCreate, EmergencyContactCreate
from domain.models.programs import ProgramCreate, StaffCreate
from domain.models.resources import ResourceCreate
from domain.vocabulary import Channel, ConsentKind, ContactKind, ResourceKind, Role
from infra.db import transaction
from infra.records import (
    add_consent,
    add_contact,
    add_resource,
    create_client,
    create_program,
    create_staff,
    program_by_slug,
)

DEMO_SLUG = "demo"
DEMO_STAFF = {
    Role.CLINICIAN: "Dr. Avery Lin",
    Role.SUPERVISOR: "Morgan Reyes",
    Role.FOLLOWUP: "Sam Okafor",
    Role.ADMIN: "Jordan Blake",
}

# (name, kind, phone, zip, lat, lon, services)
DEMO_RESOURCES = [
    (
        "OHSU Emergency Department",
        ResourceKind.EMERGENCY_ROOM,
        "+15034948311",
        "97239",
        45.4992,
        -122.6865,
        ["emergency", "psychiatric"],
    ),
    (
        "Multnomah County Mobile Crisis",
        ResourceKind.MOBILE_CRISIS,
        "+15039884888",
        "97204",
        45.5152,
        -122.6784,
        ["mobile_crisis", "welfare_check"],
    ),
    (
        "Portland Urgent Care",
        ResourceKind.URGENT_CARE,
        "+15035550190",
        "97205",
        45.5200,
        -122.6900,
        ["urgent_care"],
    ),
    (
        "Hooper Detox Stabilization Center",
        ResourceKind.DETOX,
        "+15032381200",
        "97214",
        45.5146,
        -122.6557,
        ["detox", "withdrawal"],
    ),
    (
        "Bellevue Hospital Emergency",
        ResourceKind.EMERGENCY_ROOM,
        "+12125624141",
        "10016",
        40.7394,
        -73.9754,
        ["emergency", "psychiatric"],
    ),
    (
        "NYC Mobile Crisis Team",
        ResourceKind.MOBILE_CRISIS,
        "+18886927489",
        "10001",
        40.7506,
        -73.9972,
        ["mobile_crisis", "welfare_check"],
    ),
    (
        "Northwestern Memorial Emergency",
        ResourceKind.EMERGENCY_ROOM,
        "+13129265188",
        "60611",
        41.8955,
        -87.6217,
        ["emergency"],
    ),
    (
        "988 Suicide & Crisis Lifeline",
        ResourceKind.CRISIS_LINE,
        "988",
        None,
        39.8283,
        -98.5795,
        ["crisis_line"],
    ),
]


async def seed_demo(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Create the demo program once; (re)issue its staff tokens every time and return them.

    Only token hashes are stored, so each start of the embedded stack prints fresh tokens.
    """
    async with transaction(sessions) as session:
        program = await program_by_slug(session, slug=DEMO_SLUG)
        if program is None:
            program = await create_program(
                session, data=ProgramCreate(slug=DEMO_SLUG, name="Demo Virtual IOP")
            )
            await _demo_records(session, program.id)
        tokens: dict[str, str] = {}
        for role, name in DEMO_STAFF.items():
            staff = (
                await session.exec(
                    select(Staff).where(Staff.program_id == program.id, Staff.name == name)
                )
            ).first()
            if staff is None:
                staff, token = await create_staff(
                    session,
                    program_id=program.id,
                    data=StaffCreate(name=name, role=role, on_call=role is Role.SUPERVISOR),
                )
            else:
                token = new_token()
                staff.token_hash = token_hash(token)
            tokens[role] = token
    return tokens


async def _demo_records(session: AsyncSession, program_id: uuid.UUID) -> None:
    # Consents need a recorder: an inactive "seed" admin, who can never sign in.
    admin, _ = await create_staff(
        session, program_id=program_id, data=StaffCreate(name="Demo seed", role=Role.ADMIN)
    )
    admin.active = False
    ana = await create_client(
        session,
        program_id=admin.program_id,
        data=ClientCreate(first_name="Ana", last_name="Ruiz", phone="+15035550100", zip="97201"),
    )
    sister = await add_contact(
        session,
        client=ana,
        data=EmergencyContactCreate(
            name="Lia Ruiz",
            relationship="sister",
            kind=ContactKind.PERSONAL,
            phone="+15035550101",
            email="lia@example.org",
            channels=[Channel.SMS, Channel.VOICE, Channel.EMAIL],
            priority=1,
        ),
    )
    await add_contact(
        session,
        client=ana,
        data=EmergencyContactCreate(
            name="Dr. Priya Patel",
            relationship="psychiatrist",
            kind=ContactKind.MEDICAL,
            phone="+15035550102",
            email="patel@clinic.example.org",
            facility="Willamette Clinic",
            channels=[Channel.VOICE, Channel.EMAIL],
            priority=2,
        ),
    )
    for consent_kind in (ConsentKind.CONTACT_DISCLOSURE, ConsentKind.PART2):
        await add_consent(
            session,
            client=ana,
            data=ConsentCreate(
                kind=consent_kind, contact_id=sister.id, expires_at=datetime(2027, 6, 1, tzinfo=UTC)
            ),
            recorded_by=admin.id,
        )
    ben: Client = await create_client(
        session,
        program_id=admin.program_id,
        data=ClientCreate(first_name="Ben", last_name="Okafor", phone="+12125550110", zip="10001"),
    )
    await add_contact(
        session,
        client=ben,
        data=EmergencyContactCreate(
            name="Grace Okafor",
            relationship="mother",
            kind=ContactKind.PERSONAL,
            phone="+12125550111",
            channels=[Channel.SMS, Channel.VOICE],
            priority=1,
        ),
    )
    for name, kind, phone, zip_code, lat, lon, services in DEMO_RESOURCES:
        await add_resource(
            session,
            program_id=admin.program_id,
            data=ResourceCreate(
                name=name,
                kind=kind,
                phone=phone,
                zip=zip_code,
                lat=lat,
                lon=lon,
                services=services,
            ),
        )
