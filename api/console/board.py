"""The board: the program's open incidents as a crisis team scans them, riskiest and oldest
first, with each one's next timer, alarms and unreachable pages (SPEC 10.3). Read from the case
file's projection, scoped to the program, and audited as a list read like the JSON list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import audit_read
from api.incident_reads import incident_summary
from domain.models import Client, Incident, Staff
from domain.vocabulary import CrisisType, RiskLevel, Stage

_OPEN_STAGES = [s.value for s in Stage if not s.is_final]
_RISK_ORDER = {r.value: i for i, r in enumerate(reversed(list(RiskLevel)))}


@dataclass(frozen=True)
class BoardFilters:
    stage: Stage | None = None
    crisis_type: CrisisType | None = None
    risk_level: RiskLevel | None = None
    mine: bool = False


@dataclass(frozen=True)
class BoardRow:
    id: uuid.UUID
    client_name: str
    crisis_type: str
    stage: str
    risk_level: str | None
    owner_name: str
    opened_at: datetime
    next_timer: str | None
    next_due_at: datetime | None
    alarms_sounded: int
    unreachable: int
    origin: str


async def open_incidents(
    session: AsyncSession, staff: Staff, filters: BoardFilters
) -> list[BoardRow]:
    """The program's open incidents (imminent risk first, then the oldest), audited."""
    conditions = [
        col(Incident.program_id) == staff.program_id,
        col(Incident.stage).in_(_OPEN_STAGES),
    ]
    if filters.stage is not None:
        conditions.append(col(Incident.stage) == filters.stage)
    if filters.crisis_type is not None:
        conditions.append(col(Incident.crisis_type) == filters.crisis_type)
    if filters.risk_level is not None:
        conditions.append(col(Incident.risk_level) == filters.risk_level)
    if filters.mine:
        conditions.append(col(Incident.owner_id) == staff.id)
    found = (
        await session.exec(
            select(Incident, Client.first_name, Client.last_name, Staff.name)
            .join(Client, col(Client.id) == col(Incident.client_id))
            .join(Staff, col(Staff.id) == col(Incident.owner_id))
            .where(*conditions)
            .order_by(col(Incident.opened_at))
        )
    ).all()
    rows = []
    for incident, first, last, owner in found:
        summary = incident_summary(incident)
        alarms = incident.snapshot.get("alarms") or []
        rows.append(
            BoardRow(
                id=incident.id,
                client_name=f"{first} {last}",
                crisis_type=incident.crisis_type,
                stage=incident.stage,
                risk_level=incident.risk_level,
                owner_name=owner,
                opened_at=incident.opened_at,
                next_timer=summary.next_timer.name if summary.next_timer else None,
                next_due_at=summary.next_timer.due_at if summary.next_timer else None,
                alarms_sounded=sum(1 for alarm in alarms if alarm.get("pages_sent", 0) > 0),
                unreachable=summary.unreachable,
                origin=str(incident.snapshot.get("origin", "clinician")),
            )
        )
    rows.sort(key=lambda r: (_RISK_ORDER.get(r.risk_level or "", len(_RISK_ORDER)), r.opened_at))
    if rows:  # the board shows clinical facts (who, type, risk): reading it is audited
        ids = [str(r.id) for r in rows]
        await audit_read(session, staff, "incidents.listed", detail={"incident_ids": ids})
    return rows
