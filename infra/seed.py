"""Demo data for the embedded stack: program `demo`, one staff member per role, clients with
emergency contacts and consents, and local resources around a few real US zip codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import new_token, token_hash
from domain.models import Client, ClientDevice, Staff
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
    rotate_token,
)

DEMO_SLUG = "demo"
DEMO_STAFF = {
    Role.CLINICIAN: "Dr. Avery Lin",
    Role.SUPERVISOR: "Morgan Reyes",
    Role.FOLLOWUP: "Sam Okafor",
    Role.ADMIN: "Jordan Blake",
}

# Real places (the 555 number is fictional); coordinates lie within 3 km of their zip's centroid.
DEMO_RESOURCES = [
    ResourceCreate(
        name="OHSU Emergency Department",
        kind=ResourceKind.EMERGENCY_ROOM,
        phone="+15034948311",
        address="3181 SW Sam Jackson Park Rd, Portland, OR 97239",
        zip="97239",
        lat=45.4992,
        lon=-122.6865,
        region="Portland, OR",
        services=["emergency", "psychiatric"],
    ),
    ResourceCreate(
        name="Multnomah County Mobile Crisis",
        kind=ResourceKind.MOBILE_CRISIS,
        phone="+15039884888",
        zip="97204",
        lat=45.5152,
        lon=-122.6784,
        region="Portland, OR",
        services=["mobile_crisis", "welfare_check"],
    ),
    ResourceCreate(
        name="Portland Urgent Care",
        kind=ResourceKind.URGENT_CARE,
        phone="+15035550190",
        zip="97205",
        lat=45.5200,
        lon=-122.6900,
        region="Portland, OR",
        hours={
            "mon": "08:00-20:00",
            "tue": "08:00-20:00",
            "wed": "08:00-20:00",
            "thu": "08:00-20:00",
            "fri": "08:00-20:00",
            "sat": "09:00-17:00",
            "sun": "closed",
        },
        services=["urgent_care"],
    ),
    ResourceCreate(
        name="Hooper Detox Stabilization Center",
        kind=ResourceKind.DETOX,
        phone="+15032381200",
        address="20 NE Martin Luther King Jr Blvd, Portland, OR 97232",
        zip="97232",
        lat=45.5236,
        lon=-122.6614,
        region="Portland, OR",
        services=["detox", "withdrawal"],
    ),
    ResourceCreate(
        name="Bellevue Hospital Emergency",
        kind=ResourceKind.EMERGENCY_ROOM,
        phone="+12125624141",
        address="462 First Avenue, New York, NY 10016",
        zip="10016",
        lat=40.7394,
        lon=-73.9754,
        region="New York, NY",
        services=["emergency", "psychiatric"],
    ),
    ResourceCreate(
        name="NYC Mobile Crisis Team",
        kind=ResourceKind.MOBILE_CRISIS,
        phone="+18886927489",
        zip="10001",
        lat=40.7506,
        lon=-73.9972,
        region="New York, NY",
        services=["mobile_crisis", "welfare_check"],
    ),
    ResourceCreate(
        name="Northwestern Memorial Emergency",
        kind=ResourceKind.EMERGENCY_ROOM,
        phone="+13129265188",
        address="251 E Huron St, Chicago, IL 60611",
        zip="60611",
        lat=41.8955,
        lon=-87.6217,
        region="Chicago, IL",
        services=["emergency"],
    ),
    ResourceCreate(
        name="988 Suicide & Crisis Lifeline",
        kind=ResourceKind.CRISIS_LINE,
        phone="988",
        lat=39.8283,  # a national line: the geographic center of the contiguous US
        lon=-98.5795,
        region="United States",
        services=["crisis_line"],
    ),
    ResourceCreate(
        name="Multnomah County Crisis Line",
        kind=ResourceKind.CRISIS_LINE,
        phone="+15039884888",
        zip="97204",
        lat=45.5152,
        lon=-122.6784,
        region="Multnomah County, OR",
        services=["crisis_line"],
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
                    data=StaffCreate(
                        name=name, role=role, on_call=role in (Role.SUPERVISOR, Role.CLINICIAN)
                    ),
                )
            else:
                token = await rotate_token(session, staff=staff)
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
    for resource in DEMO_RESOURCES:
        await add_resource(session, program_id=admin.program_id, data=resource)


DEMO_DEVICE_LABEL = "demo phone"


async def issue_demo_device_token(sessions: async_sessionmaker[AsyncSession]) -> str:
    """The demo client's SOS page token, re-issued on each start like the staff tokens (only
    its hash is kept): `/sos/<token>` is the page the client's phone opens."""
    async with transaction(sessions) as session:
        program = await program_by_slug(session, slug=DEMO_SLUG)
        assert program is not None, "seed the demo program first"
        client = (await session.exec(select(Client).where(Client.program_id == program.id))).first()
        assert client is not None
        device = (
            await session.exec(
                select(ClientDevice)
                .where(ClientDevice.client_id == client.id)
                .where(ClientDevice.label == DEMO_DEVICE_LABEL)
            )
        ).first()
        token = new_token()
        if device is None:
            device = ClientDevice(
                client_id=client.id, program_id=program.id, label=DEMO_DEVICE_LABEL, token_hash=""
            )
        device.token_hash = token_hash(token)
        device.revoked_at = None
        session.add(device)
    return token
