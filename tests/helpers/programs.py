"""A program with a staff member of each role and a client, made through the product's records."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import Client as ClientRecord
from domain.models import EmergencyContact, Program, Staff
from domain.models.clients import ClientCreate, EmergencyContactCreate
from domain.models.programs import ProgramCreate, StaffCreate
from domain.vocabulary import Channel, ContactKind, Role
from infra.db import transaction
from infra.records import add_contact, create_client, create_program, create_staff


@dataclass
class DemoProgram:
    program: Program
    staff: dict[Role, Staff]
    tokens: dict[Role, str]
    client: ClientRecord

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def make_program(
    sessions: async_sessionmaker[AsyncSession], slug: str = "demo"
) -> DemoProgram:
    async with transaction(sessions) as session:
        program = await create_program(session, data=ProgramCreate(slug=slug, name=f"{slug} IOP"))
        staff: dict[Role, Staff] = {}
        tokens: dict[Role, str] = {}
        for role in Role:
            member, token = await create_staff(
                session,
                program_id=program.id,
                data=StaffCreate(
                    name=f"{role} of {slug}", role=role, on_call=role is Role.SUPERVISOR
                ),
            )
            staff[role], tokens[role] = member, token
        client = await create_client(
            session,
            program_id=program.id,
            data=ClientCreate(
                first_name="Ana", last_name="Ruiz", phone="+15035550100", zip="97201"
            ),
        )
    return DemoProgram(program=program, staff=staff, tokens=tokens, client=client)


async def add_emailed_sister(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram
) -> EmergencyContact:
    """The demo client's sister, a personal contact reached by email (the first to notify)."""
    async with transaction(sessions) as session:
        return await add_contact(
            session,
            client=program.client,
            data=EmergencyContactCreate(
                name="Lia Ruiz",
                relationship="sister",
                kind=ContactKind.PERSONAL,
                email="lia@example.org",
                channels=[Channel.EMAIL],
                priority=1,
            ),
        )
