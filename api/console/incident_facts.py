"""What the incident page shows, gathered once per render: the audited detail (the same read as
`GET /v1/incidents/{id}`), the client and their contacts, the names behind ids, the choices a
decision form offers, and the timeline in time order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, TypeAdapter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.console.decision_forms import Choices, Option
from api.console.session import SignedIn
from api.incident_reads import read_incident
from api.incident_views import IncidentView
from api.staff_directory import staff_directory
from domain.decisions import CLINICAL
from domain.models import Client as ClientRecord
from domain.models import EmergencyContact, Resource, Staff
from domain.vocabulary import DispatchStatus

_TIME = TypeAdapter(AwareDatetime)
_ENDED_DISPATCH = {DispatchStatus.TRANSPORTED.value, DispatchStatus.CANCELLED.value}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    title: str
    who: str = ""
    lines: tuple[str, ...] = ()


@dataclass
class ContactStatus:
    name: str
    relationship: str
    kind: str
    deliveries: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IncidentFacts:
    view: IncidentView
    client: ClientRecord
    names: dict[str, str]
    contacts: list[EmergencyContact]
    contact_status: list[ContactStatus]
    timeline: list[TimelineEntry]
    choices: Choices


def _summary(detail: dict[str, Any], documentation: dict[str, str]) -> tuple[str, ...]:
    lines = []
    for key, value in detail.items():
        if value in (None, "", [], {}) or key.endswith("_id") or key == "contact_ids":
            continue
        if isinstance(value, dict | list):
            continue
        lines.append(f"{key.replace('_', ' ')}: {str(value).replace('_', ' ')}")
    lines.extend(f"{key.replace('_', ' ')}: {text}" for key, text in documentation.items())
    return tuple(lines)


def _timeline(view: IncidentView, names: dict[str, str]) -> list[TimelineEntry]:
    who = names.get
    entries = [
        TimelineEntry(
            at=view.opened_at,
            kind="opened",
            title=f"Opened ({view.origin})",
            who=who(view.opened_by, view.opened_by),
            lines=(view.summary,),
        )
    ]
    for decision in view.decisions:
        kind = decision["kind"]
        entries.append(
            TimelineEntry(
                at=_TIME.validate_python(decision["at"]),
                kind=kind,
                title=kind.replace("_", " ").capitalize(),
                who=who(decision["actor_id"], decision["actor_role"]),
                lines=_summary(decision.get("detail", {}), decision.get("documentation", {})),
            )
        )
    for page in view.pages:
        delivered = "delivered" if page.get("delivered") else "not delivered"
        entries.append(
            TimelineEntry(
                at=_TIME.validate_python(page["at"]),
                kind="page",
                title=f"Paged {page['target'].replace('_', ' ')}: {delivered}",
                lines=(page["reason"].replace("_", " "),),
            )
        )
    for note in view.notifications:
        recipient = who(str(note["recipient_id"]), note["recipient_type"])
        entries.append(
            TimelineEntry(
                at=_TIME.validate_python(note["updated_at"]),
                kind=f"notification.{note['status']}",
                title=f"{note['channel']} to {recipient}: {note['status']}",
                lines=(note["error"],) if note.get("error") else (),
            )
        )
    entries.sort(key=lambda e: e.at)
    return entries


async def incident_facts(
    session: AsyncSession, temporal: Client, me: SignedIn, incident_id: uuid.UUID, now: datetime
) -> IncidentFacts:
    view = await read_incident(
        session=session, temporal=temporal, staff=me.staff, incident_id=incident_id, now=now
    )
    client = await session.get(ClientRecord, view.client_id)
    assert client is not None  # an incident's client is never deleted
    contacts = list(
        (
            await session.exec(
                select(EmergencyContact)
                .where(EmergencyContact.client_id == client.id)
                .order_by(col(EmergencyContact.priority))
            )
        ).all()
    )
    staff = (await session.exec(select(Staff).where(Staff.program_id == client.program_id))).all()
    names = {str(s.id): f"{s.name} ({s.role})" for s in staff}
    names |= {str(c.id): f"{c.name} ({c.relationship})" for c in contacts}
    names[str(client.id)] = f"{client.first_name} {client.last_name} (client)"
    status = [
        ContactStatus(
            name=c.name,
            relationship=c.relationship,
            kind=c.kind,
            deliveries=[n for n in view.notifications if str(n["recipient_id"]) == str(c.id)],
        )
        for c in contacts
    ]
    return IncidentFacts(
        view=view,
        client=client,
        names=names,
        contacts=contacts,
        contact_status=status,
        timeline=_timeline(view, names),
        choices=await _choices(session, view, contacts, client.program_id),
    )


async def _choices(
    session: AsyncSession,
    view: IncidentView,
    contacts: list[EmergencyContact],
    program_id: uuid.UUID,
) -> Choices:
    directory = await staff_directory(session=session, program_id=program_id)
    owners = [
        Option(str(m.id), f"{m.name} ({m.role})") for m in directory.data if m.role in CLINICAL
    ]
    resources = (
        await session.exec(
            select(Resource).where(Resource.program_id == program_id).order_by(col(Resource.name))
        )
    ).all()
    people = [Option(str(c.id), f"{c.name} ({c.relationship}, {c.kind})") for c in contacts]
    dispatches = [
        Option(str(d["dispatch_id"]), f"{d['service']} ({d['status'].replace('_', ' ')})")
        for d in view.dispatches
        if d["status"] not in _ENDED_DISPATCH
    ]
    return Choices(
        by_field={
            "owner_id": owners,
            "resource_id": [Option(str(r.id), f"{r.name} ({r.kind})") for r in resources],
            "contact_id": people,
            "contact_ids": people,
            "dispatch_id": dispatches,
        }
    )
