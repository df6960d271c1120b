"""A history of incidents whose every time the test knows, written straight into the case-file
tables (incidents, decisions, audit events, follow-up tasks, page notifications) as the
activities write them, for the SLA report to read.

Each incident's times are drawn from a seeded generator and kept in a `Seeded` record; the
rows add what the report must not count: a second, later assessment; an `en_route` before the
arrival; an acknowledgement on a lost-contact ladder; a failed follow-up before the completed
one; a page reaching two channels (one page).
"""

from __future__ import annotations

import random
import statistics
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.audit import AuditEntry
from domain.models import DecisionRecord, FollowUpTask, Incident, Notification
from domain.vocabulary import Role
from infra.audit_log import append_in
from infra.db import transaction
from tests.helpers.programs import DemoProgram

SEEDED_TYPES = ("suicidal_ideation", "panic", "overdose", "withdrawal", "psychosis")
DAY = timedelta(days=1)


@dataclass
class Seeded:
    """One incident's known times (seconds after it opened, None when it never happened)."""

    incident_id: uuid.UUID
    crisis_type: str
    opened_at: datetime
    assessment: float | None = None
    notify: float | None = None
    ack: float | None = None
    dispatch: float | None = None
    arrival: float | None = None
    disposition: float | None = None
    followup_completed: float | None = None
    pages: int = 0


class _Writer:
    def __init__(self, session: AsyncSession, program: DemoProgram) -> None:
        self.session, self.program = session, program
        self.clinician = program.staff[Role.CLINICIAN]

    async def incident(self, seeded: Seeded, program_id: uuid.UUID) -> None:
        self.session.add(
            Incident(
                id=seeded.incident_id,
                program_id=program_id,
                client_id=self.program.client.id,
                workflow_id=f"incident-{seeded.incident_id}",
                crisis_type=seeded.crisis_type,
                stage="follow_up" if seeded.disposition is not None else "responding",
                owner_id=self.clinician.id,
                opened_by=self.clinician.id,
                opened_at=seeded.opened_at,
                updated_at=seeded.opened_at,
                protocol_version="test",
            )
        )
        await self.session.flush()  # the rows below refer to it

    def decision(
        self, seeded: Seeded, kind: str, after: float, detail: dict[str, object]
    ) -> uuid.UUID:
        decision_id = uuid.uuid4()
        self.session.add(
            DecisionRecord(
                id=decision_id,
                incident_id=seeded.incident_id,
                program_id=self.program.program.id,
                kind=kind,
                actor_id=str(self.clinician.id),
                actor_role="clinician",
                recorded_at=seeded.opened_at + timedelta(seconds=after),
                detail={**detail, "documentation": "Spoke with the client at length."},
            )
        )
        return decision_id

    async def acknowledged(self, seeded: Seeded, ladder_id: uuid.UUID, after: float) -> None:
        contact = uuid.uuid4()
        await append_in(
            self.session,
            AuditEntry(
                event_key=f"ack:{ladder_id}:{contact}:link",
                program_id=self.program.program.id,
                action="contact.acknowledged",
                actor_id=str(contact),
                actor_role="contact",
                at=seeded.opened_at + timedelta(seconds=after),
                incident_id=seeded.incident_id,
                detail={"ladder_id": str(ladder_id), "via": "link"},
            ),
        )

    def task(self, seeded: Seeded, sequence: int, status: str, after: float) -> None:
        at = seeded.opened_at + timedelta(seconds=after)
        self.session.add(
            FollowUpTask(
                id=uuid.uuid4(),
                incident_id=seeded.incident_id,
                program_id=self.program.program.id,
                sequence=sequence,
                due_at=at,
                status=status,
                created_at=seeded.opened_at,
                updated_at=at,
            )
        )

    def page(self, seeded: Seeded, page_id: str, channels: tuple[str, ...]) -> None:
        for channel in channels:
            key = f"page:{seeded.incident_id}:{page_id}:{self.clinician.id}:{channel}"
            self.session.add(
                Notification(
                    incident_id=seeded.incident_id,
                    program_id=self.program.program.id,
                    purpose="page",
                    recipient_type="staff",
                    recipient_id=str(self.clinician.id),
                    channel=channel,
                    status="sent",
                    idempotency_key=key,
                    created_at=seeded.opened_at,
                    updated_at=seeded.opened_at,
                )
            )


def draw(rng: random.Random, incident_id: uuid.UUID, crisis_type: str, at: datetime) -> Seeded:
    """Times with the boundaries in them: follow-ups at exactly 7 and 30 days, and ties."""
    seeded = Seeded(incident_id, crisis_type, at, pages=rng.choice([0, 0, 1, 1, 2, 3]))
    if rng.random() < 0.9:
        seeded.assessment = float(rng.choice([0, 60, rng.randint(1, 7200)]))
    if rng.random() < 0.5:
        seeded.notify = float(rng.randint(60, 3600))
        if rng.random() < 0.75:
            seeded.ack = seeded.notify + rng.choice([0, 30, rng.randint(1, 5400)])
    if rng.random() < 0.35:
        seeded.dispatch = float(rng.randint(0, 1800))
        if rng.random() < 0.8:
            seeded.arrival = seeded.dispatch + rng.randint(300, 5400)
    if rng.random() < 0.7:
        seeded.disposition = float(rng.randint(3600, 6 * 3600))
        if rng.random() < 0.85:
            waited = rng.choice([7 * DAY, 7 * DAY + timedelta(seconds=1), 30 * DAY, 31 * DAY])
            waited = rng.choice([waited, timedelta(seconds=rng.randint(3600, 40 * 86400))])
            seeded.followup_completed = seeded.disposition + waited.total_seconds()
    return seeded


async def write(writer: _Writer, seeded: Seeded, program_id: uuid.UUID) -> None:
    await writer.incident(seeded, program_id)
    if seeded.assessment is not None:
        writer.decision(seeded, "assessment", seeded.assessment + 600, {"risk_level": "high"})
        writer.decision(seeded, "assessment", seeded.assessment, {"risk_level": "moderate"})
    if seeded.notify is not None:
        ladder = uuid.uuid4()
        writer.decision(seeded, "notify_contacts", seeded.notify, {"ladder_id": str(ladder)})
        if seeded.ack is not None and seeded.incident_id.int % 3 == 0:
            # A clinician recorded that the contact called back (no audit event of a ladder).
            reached = {"contact_id": str(uuid.uuid4())}
            writer.decision(seeded, "contact_reached", seeded.ack, reached)
        elif seeded.ack is not None:
            await writer.acknowledged(seeded, ladder, seeded.ack + 120)
            await writer.acknowledged(seeded, ladder, seeded.ack)
    # The client's own acknowledgement on a lost-contact ladder is no contact's.
    lost = writer.decision(seeded, "contact_lost", 5, {"ladder_id": str(uuid.uuid4())})
    await writer.acknowledged(seeded, lost, 10)
    if seeded.dispatch is not None:
        dispatch_id = str(uuid.uuid4())
        writer.decision(seeded, "dispatch", seeded.dispatch, {"dispatch_id": dispatch_id})
        en_route = {"dispatch_id": dispatch_id, "status": "en_route"}
        writer.decision(seeded, "dispatch_update", seeded.dispatch, en_route)
        if seeded.arrival is not None:
            arrived = {"dispatch_id": dispatch_id, "status": "arrived"}
            writer.decision(seeded, "dispatch_update", seeded.arrival, arrived)
    if seeded.disposition is not None:
        writer.decision(seeded, "disposition", seeded.disposition, {"outcome": "safe_at_home"})
        writer.task(seeded, 1, "failed", seeded.disposition + 3600)
        if seeded.followup_completed is not None:
            writer.task(seeded, 2, "completed", seeded.followup_completed)
            writer.task(seeded, 3, "completed", seeded.followup_completed + 86400)
        writer.task(seeded, 4, "requested", seeded.disposition + 60)
    for n in range(seeded.pages):
        writer.page(seeded, f"page-{n}", ("sms", "email") if n == 0 else ("console",))


async def seed_history(
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
    *,
    start: datetime,
    end: datetime,
    count: int = 220,
    seed: int = 16,
    other_program: DemoProgram | None = None,
) -> list[Seeded]:
    """`count` incidents opened in `[start, end)` (the first exactly at `start`), and the ones
    the report must leave out: one opened exactly at `end`, one just before `start`, and (with
    `other_program`) one of another program. Returns the ones in the window."""
    rng = random.Random(seed)
    step = (end - start) / count
    inside = [
        draw(rng, uuid.uuid4(), SEEDED_TYPES[i % len(SEEDED_TYPES)], start + i * step)
        for i in range(count)
    ]
    outside = [
        draw(rng, uuid.uuid4(), "panic", end),
        draw(rng, uuid.uuid4(), "panic", start - timedelta(microseconds=1)),
    ]
    async with transaction(sessions) as session:
        writer = _Writer(session, program)
        for seeded in [*inside, *outside]:
            await write(writer, seeded, program.program.id)
    if other_program is not None:
        async with transaction(sessions) as session:
            foreign = draw(rng, uuid.uuid4(), "panic", start + DAY)
            await write(_Writer(session, other_program), foreign, other_program.program.id)
    return inside


# --- the report, by hand ------------------------------------------------------------------------


def _median_p90(values: list[float]) -> tuple[float | None, float | None]:
    """`statistics` computes them, not the code under test: the inclusive method is type 7."""
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[8]


def _gaps(incidents: list[Seeded], start: str, end: str) -> list[float]:
    found = []
    for s in incidents:
        began = 0.0 if start == "opened" else getattr(s, start)
        ended = getattr(s, end)
        if began is not None and ended is not None:
            found.append(ended - began)
    return found


HAND_MEASURES = {
    "open_to_assessment": ("opened", "assessment"),
    "notify_to_acknowledgement": ("notify", "ack"),
    "dispatch_to_arrival": ("dispatch", "arrival"),
    "disposition_to_followup": ("disposition", "followup_completed"),
}


def _window_closed(seeded: Seeded, days: int, as_of: datetime) -> bool:
    """Its `days` after the disposition are over by `as_of` (ending exactly then is over)."""
    if seeded.disposition is None:
        return False
    return (as_of - seeded.opened_at).total_seconds() >= seeded.disposition + days * 86400


def hand_row(
    crisis_type: str, incidents: list[Seeded], as_of: datetime
) -> dict[str, float | int | str | None]:
    """The report's row for these incidents as of `as_of`, computed from their known times: a
    follow-up share over the incidents whose window has closed by then, hits and misses alike."""
    row: dict[str, float | int | str | None] = {
        "crisis_type": crisis_type,
        "incidents": len(incidents),
    }
    for name, (start, end) in HAND_MEASURES.items():
        gaps = _gaps(incidents, start, end)
        median, p90 = _median_p90(gaps)
        row |= {f"{name}_count": len(gaps), f"{name}_median_seconds": median}
        row[f"{name}_p90_seconds"] = p90
    row["dispositions"] = sum(1 for s in incidents if s.disposition is not None)
    for days in (7, 30):
        closed = [s for s in incidents if _window_closed(s, days, as_of)]
        waits = [
            s.followup_completed - s.disposition
            for s in closed
            if s.followup_completed is not None and s.disposition is not None
        ]
        within = sum(1 for w in waits if 0 <= w <= days * 86400)
        row[f"followup_{days}d_eligible"] = len(closed)
        row[f"followup_within_{days}_days"] = within / len(closed) if closed else None
    row["pages_per_incident"] = (
        sum(s.pages for s in incidents) / len(incidents) if incidents else None
    )
    return row


def hand_report(
    incidents: list[Seeded], types: list[str], as_of: datetime
) -> list[dict[str, float | int | str | None]]:
    rows = [hand_row(t, [s for s in incidents if s.crisis_type == t], as_of) for t in types]
    return [*rows, hand_row("all", incidents, as_of)]
