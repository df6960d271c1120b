"""Operations counts read from the case file at scrape time, for `GET /metrics`.

Incidents are opened and decided through the API, but pages, ladders and alarms happen in the
workers: only the database sees them all. Reading the counts from it at scrape time gives every
API process the same totals, whichever process or worker did the work. Each family is one grouped
query, and one read serves every scrape for `cache_seconds`. Label values are enumeration values
only (an unknown value becomes "other"), never an id, a name or a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import ColumnElement, Executable, bindparam, case, distinct, func, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from domain.followup import AlarmKind
from domain.incident.state import AlarmName
from domain.models import DecisionRecord, Incident, Notification
from domain.notification import AttemptOutcome, LadderPurpose, LadderStatus
from domain.vocabulary import Channel, CrisisType, DecisionKind, DeliveryStatus, Stage

OTHER = "other"
PAGE_PURPOSE = "page"
FINAL_STAGES = frozenset(stage.value for stage in Stage if stage.is_final)
# Page ids that say which alarm sounded (domain/incident/alarms.py, workflows/followup.py).
ALARM_PAGE_IDS = {alarm.value: alarm.value.replace("_", "\\_") + "-%" for alarm in AlarmName} | {
    f"followup_{kind.value}": f"followup-%-{kind.value}" for kind in AlarmKind
}
DELIVERY_STATUSES = frozenset(s.value for s in (*DeliveryStatus, *AttemptOutcome))
# Ladders, and when an incident's earliest alarm is due, live in the incident's JSON snapshot
# (its alarms are kept sorted by due time).
_LADDERS_SQL = {
    "postgresql": "SELECT l->>'purpose', l->>'status', count(*) FROM incident "
    "CROSS JOIN LATERAL json_array_elements(incident.snapshot::json -> 'ladders') AS l "
    "GROUP BY 1, 2",
    "sqlite": "SELECT json_extract(l.value, '$.purpose'), json_extract(l.value, '$.status'), "
    "count(*) FROM incident, json_each(incident.snapshot, '$.ladders') AS l GROUP BY 1, 2",
}
_EARLIEST_DUE_SQL = {
    "postgresql": "SELECT min(snapshot::json -> 'alarms' -> 0 ->> 'due_at') FROM incident "
    "WHERE stage NOT IN :final",
    "sqlite": "SELECT min(json_extract(snapshot, '$.alarms[0].due_at')) FROM incident "
    "WHERE stage NOT IN :final",
}


def enum_label(value: object, allowed: Iterable[str] | type[StrEnum]) -> str:
    """The value if the enumeration has it, else "other": no label ever carries free text."""
    return value if isinstance(value, str) and value in {str(v) for v in allowed} else OTHER


@dataclass(frozen=True)
class CasefileCounts:
    """One read of the case file: every count the /metrics families are made of."""

    incidents: Mapping[tuple[str, str], int]  # (crisis type, stage)
    decisions: Mapping[str, int]  # kind
    deliveries: Mapping[tuple[str, str, str], int]  # (purpose, channel, status)
    pages: Mapping[str, int]  # the alarm that sounded it, or "" for any other page
    ladders: Mapping[tuple[str, str], int]  # (purpose, status)
    earliest_due_alarm: datetime | None  # of the incidents still open
    read_at: datetime
    # (from, to) of each reclassify: what undoes them gives the type each incident opened as.
    reclassified: Sequence[tuple[str, str]] = ()

    @property
    def projection_lag(self) -> float:
        """Seconds the case file has shown an open incident's alarm past due. A workflow that
        sounds an alarm re-arms it and projects that at once, so this grows only while a
        workflow or its projection is behind; 0 when none is."""
        if self.earliest_due_alarm is None:
            return 0.0
        return max(0.0, (self.read_at - self.earliest_due_alarm).total_seconds())


def _page_parts() -> tuple[ColumnElement[str], ColumnElement[str]]:
    """The page id, and the page's own key, in an idempotency key that activities/paging.py
    writes as `page:<incident uuid, 36>:<page id>:<recipient>:<channel>`."""
    key = col(Notification.idempotency_key)
    who = 2 + func.length(Notification.recipient_id) + func.length(Notification.channel)
    page_id = func.substr(key, 43, func.length(key) - 42 - who)
    return page_id, func.substr(key, 1, func.length(key) - who)


async def _rows(connection: AsyncConnection, query: Executable) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await connection.execute(query)).all()]


async def read_casefile_counts(connection: AsyncConnection) -> CasefileCounts:
    dialect = connection.dialect.name
    crisis_type, stage = col(Incident.crisis_type), col(Incident.stage)
    incidents = await _rows(
        connection, select(crisis_type, stage, func.count()).group_by(crisis_type, stage)
    )
    kind = col(DecisionRecord.kind)
    decisions = await _rows(connection, select(kind, func.count()).group_by(kind))
    moves = await _rows(
        connection,
        select(col(DecisionRecord.detail)).where(kind == DecisionKind.RECLASSIFY.value),
    )
    purpose, channel, status = (
        col(Notification.purpose),
        col(Notification.channel),
        col(Notification.status),
    )
    deliveries = await _rows(
        connection,
        select(purpose, channel, status, func.count()).group_by(purpose, channel, status),
    )
    page_id, page_key = _page_parts()
    alarm = case(
        *[(page_id.like(like, escape="\\"), name) for name, like in ALARM_PAGE_IDS.items()],
        else_="",
    )
    pages = await _rows(
        connection,
        select(alarm, func.count(distinct(page_key)))
        .where(purpose == PAGE_PURPOSE)
        .group_by(alarm),
    )
    ladders = await _rows(connection, text(_LADDERS_SQL[dialect]))
    earliest_due = text(_EARLIEST_DUE_SQL[dialect]).bindparams(bindparam("final", expanding=True))
    final = {"final": sorted(FINAL_STAGES)}
    earliest = (await connection.execute(earliest_due, final)).scalar()
    return CasefileCounts(
        incidents={(t, s): n for t, s, n in incidents},
        decisions={k: n for k, n in decisions},
        deliveries={(p, c, s): n for p, c, s, n in deliveries},
        pages={a: n for a, n in pages},
        ladders={(p, s): n for p, s, n in ladders},
        earliest_due_alarm=datetime.fromisoformat(earliest) if earliest else None,
        read_at=datetime.now(UTC),
        reclassified=[(str(d.get("from")), str(d.get("to"))) for (d,) in moves],
    )


def casefile_families(counts: CasefileCounts) -> list[Metric]:
    """The case-file families of /metrics, from one read."""
    opened = CounterMetricFamily(
        "crisisdesk_incidents_opened",
        "Incidents opened, by the crisis type they opened as (a reclassification later does "
        "not move them: a counter never goes down)",
        labels=["crisis_type"],
    )
    closed = CounterMetricFamily(
        "crisisdesk_incidents_closed",
        "Incidents ended, by crisis type and final stage (closed or cancelled)",
        labels=["crisis_type", "stage"],
    )
    open_now = GaugeMetricFamily(
        "crisisdesk_incidents_open",
        "Incidents not yet ended, by crisis type and stage",
        labels=["crisis_type", "stage"],
    )
    by_type: dict[str, int] = {}
    for (crisis, stage), n in counts.incidents.items():
        crisis, stage = enum_label(crisis, CrisisType), enum_label(stage, Stage)
        by_type[crisis] = by_type.get(crisis, 0) + n
        (closed if stage in FINAL_STAGES else open_now).add_metric([crisis, stage], n)
    for moved_from, moved_to in counts.reclassified:  # undone, newest type first
        to, back = enum_label(moved_to, CrisisType), enum_label(moved_from, CrisisType)
        by_type[to] = by_type.get(to, 0) - 1
        by_type[back] = by_type.get(back, 0) + 1
    for crisis, n in sorted(by_type.items()):
        if n > 0:
            opened.add_metric([crisis], n)
    decisions = CounterMetricFamily(
        "crisisdesk_decisions", "Decisions recorded on incidents, by kind", labels=["kind"]
    )
    for kind, n in sorted(counts.decisions.items()):
        decisions.add_metric([enum_label(kind, DecisionKind)], n)
    return [opened, closed, open_now, decisions, *_delivery_families(counts)]


def _delivery_families(counts: CasefileCounts) -> list[Metric]:
    pages = CounterMetricFamily(
        "crisisdesk_pages", "Pages to staff (one per page, however many people it reached)"
    )
    pages.add_metric([], sum(counts.pages.values()))
    alarms = CounterMetricFamily(
        "crisisdesk_alarms_sounded",
        "Alarms that sounded (each page of a protocol or follow-up alarm, repeats included)",
        labels=["alarm"],
    )
    for alarm in ALARM_PAGE_IDS:
        alarms.add_metric([alarm], counts.pages.get(alarm, 0))
    sends = CounterMetricFamily(
        "crisisdesk_page_sends",
        "Sends of pages, one per recipient and channel tried, by channel and delivery status",
        labels=["channel", "status"],
    )
    messages = CounterMetricFamily(
        "crisisdesk_contact_messages",
        "Messages to clients' contacts, by ladder purpose, channel and delivery status",
        labels=["purpose", "channel", "status"],
    )
    for (purpose, channel, status), n in sorted(counts.deliveries.items()):
        labels = [enum_label(channel, Channel), enum_label(status, DELIVERY_STATUSES)]
        if purpose == PAGE_PURPOSE:
            sends.add_metric(labels, n)
        else:
            messages.add_metric([enum_label(purpose, LadderPurpose), *labels], n)
    ladders = CounterMetricFamily(
        "crisisdesk_contact_ladders",
        "Contact ladders, by purpose and outcome (running: not yet ended)",
        labels=["purpose", "status"],
    )
    for (purpose, status), n in sorted(counts.ladders.items()):
        ladders.add_metric(
            [enum_label(purpose, LadderPurpose), enum_label(status, LadderStatus)], n
        )
    lag = GaugeMetricFamily(
        "crisisdesk_projection_lag_seconds",
        "How long the case file has shown an open incident's alarm past due (a workflow that "
        "sounds one projects its next due time at once, so this grows only while a workflow or "
        "its projection is behind); 0 when none is",
    )
    lag.add_metric([], counts.projection_lag)
    return [pages, alarms, sends, messages, ladders, lag]
