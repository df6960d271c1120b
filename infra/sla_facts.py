"""Each incident's first times for the SLA report (`domain/sla.py`), read from the case file.

Where each time comes from:
- opened: the incident row's `opened_at` (the window is on it: `from <= opened_at < to`);
- first assessment, notify, dispatch, disposition: the first decision of that kind;
- first acknowledgement: the first `contact.acknowledged` audit event (a signed link, an SMS
  reply, a key press) on a ladder a `notify_contacts` decision started, or the first
  `contact_reached` decision (a clinician recording that a notified contact called back);
- arrival: the first `dispatch_update` decision with the status `arrived`;
- first completed follow-up: the earliest `completed` follow-up task, at its last change
  (`completed` is final, so that is when it was completed);
- pages: the incident's distinct page orders (one page reaches one or more staff, on one or
  more channels: it counts once).

Only times, kinds and ids are read: never a decision's documentation nor a note.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import AuditEvent, DecisionRecord, FollowUpTask, Incident, Notification
from domain.sla import IncidentFacts
from domain.vocabulary import DecisionKind, DispatchStatus, TaskStatus

ACKNOWLEDGED_ACTION = "contact.acknowledged"
PAGE_PURPOSE = "page"
_FIRST_OF_KIND = {
    DecisionKind.ASSESSMENT: "first_assessment_at",
    DecisionKind.NOTIFY_CONTACTS: "notified_at",
    DecisionKind.DISPATCH: "dispatched_at",
    DecisionKind.DISPOSITION: "disposition_at",
}
_READ_KINDS = [*_FIRST_OF_KIND, DecisionKind.CONTACT_REACHED]


@dataclass
class _Gathered:
    """What is known of one incident while the reads come in."""

    facts: IncidentFacts
    ladders: set[str] = field(default_factory=set)
    acknowledgements: list[tuple[str | None, datetime]] = field(default_factory=list)
    page_orders: set[str] = field(default_factory=set)

    def first(self, name: str, at: datetime) -> None:
        current: datetime | None = getattr(self.facts, name)
        if current is None or at < current:
            changes: dict[str, Any] = {name: at}
            self.facts = replace(self.facts, **changes)

    def done(self) -> IncidentFacts:
        for ladder_id, at in self.acknowledgements:
            if ladder_id is None or ladder_id in self.ladders:
                self.first("first_acknowledged_at", at)
        return replace(self.facts, pages=len(self.page_orders))


def _detail(member: str) -> ColumnElement[Any]:
    return DecisionRecord.__table__.c.detail[member].as_string()  # type: ignore[attr-defined,no-any-return]


def page_order_of(idempotency_key: str) -> str:
    """The page id in a page attempt's key (`page:{incident}:{page}:{recipient}:{channel}`);
    a key of another shape is its own page."""
    parts = idempotency_key.split(":")
    return ":".join(parts[2:-2]) if len(parts) >= 5 else idempotency_key


async def incident_facts(
    session: AsyncSession, *, program_id: uuid.UUID, start: datetime, end: datetime
) -> list[IncidentFacts]:
    """The first times of each of the program's incidents opened in `[start, end)`."""
    in_window = (
        col(Incident.program_id) == program_id,
        col(Incident.opened_at) >= start,
        col(Incident.opened_at) < end,
    )
    opened = await session.exec(
        select(col(Incident.id), col(Incident.crisis_type), col(Incident.opened_at)).where(
            *in_window
        )
    )
    gathered = {
        incident_id: _Gathered(IncidentFacts(crisis_type=crisis_type, opened_at=opened_at))
        for incident_id, crisis_type, opened_at in opened.all()
    }
    if not gathered:
        return []
    await _read_decisions(session, gathered, in_window)
    await _read_acknowledgements(session, gathered, in_window)
    await _read_followups(session, gathered, in_window)
    await _read_pages(session, gathered, in_window)
    return [incident.done() for incident in gathered.values()]


async def _read_decisions(
    session: AsyncSession, gathered: dict[uuid.UUID, _Gathered], in_window: Any
) -> None:
    rows = await session.exec(
        select(
            col(DecisionRecord.incident_id),
            col(DecisionRecord.kind),
            col(DecisionRecord.recorded_at),
            _detail("ladder_id"),
        )
        .join(Incident, col(Incident.id) == col(DecisionRecord.incident_id))
        .where(*in_window, col(DecisionRecord.kind).in_(_READ_KINDS))
    )
    for incident_id, kind, at, ladder_id in rows.all():
        incident = gathered[incident_id]
        if kind in _FIRST_OF_KIND:
            incident.first(_FIRST_OF_KIND[DecisionKind(kind)], at)
        if kind == DecisionKind.NOTIFY_CONTACTS and ladder_id is not None:
            incident.ladders.add(ladder_id)
        elif kind == DecisionKind.CONTACT_REACHED:
            incident.acknowledgements.append((None, at))
    arrivals = await session.exec(
        select(col(DecisionRecord.incident_id), col(DecisionRecord.recorded_at))
        .join(Incident, col(Incident.id) == col(DecisionRecord.incident_id))
        .where(
            *in_window,
            col(DecisionRecord.kind) == DecisionKind.DISPATCH_UPDATE,
            _detail("status") == DispatchStatus.ARRIVED.value,
        )
    )
    for incident_id, at in arrivals.all():
        gathered[incident_id].first("first_arrival_at", at)


async def _read_acknowledgements(
    session: AsyncSession, gathered: dict[uuid.UUID, _Gathered], in_window: Any
) -> None:
    ladder = AuditEvent.__table__.c.detail["ladder_id"].as_string()  # type: ignore[attr-defined]
    rows = await session.exec(
        select(col(AuditEvent.incident_id), col(AuditEvent.at), ladder)
        .join(Incident, col(Incident.id) == col(AuditEvent.incident_id))
        .where(*in_window, col(AuditEvent.action) == ACKNOWLEDGED_ACTION)
    )
    for incident_id, at, ladder_id in rows.all():
        if incident_id in gathered:  # always, by the join: it says so to the type checker
            # An acknowledgement without its ladder is not one of a notified contact.
            gathered[incident_id].acknowledgements.append((ladder_id or "", at))


async def _read_followups(
    session: AsyncSession, gathered: dict[uuid.UUID, _Gathered], in_window: Any
) -> None:
    rows = await session.exec(
        select(col(FollowUpTask.incident_id), col(FollowUpTask.updated_at))
        .join(Incident, col(Incident.id) == col(FollowUpTask.incident_id))
        .where(*in_window, col(FollowUpTask.status) == TaskStatus.COMPLETED)
    )
    for incident_id, completed_at in rows.all():
        gathered[incident_id].first("first_followup_completed_at", completed_at)


async def _read_pages(
    session: AsyncSession, gathered: dict[uuid.UUID, _Gathered], in_window: Any
) -> None:
    rows = await session.exec(
        select(col(Notification.incident_id), col(Notification.idempotency_key))
        .join(Incident, col(Incident.id) == col(Notification.incident_id))
        .where(*in_window, col(Notification.purpose) == PAGE_PURPOSE)
    )
    pages: dict[uuid.UUID, set[str]] = defaultdict(set)
    for incident_id, key in rows.all():
        pages[incident_id].add(page_order_of(key))
    for incident_id, orders in pages.items():
        gathered[incident_id].page_orders = orders
