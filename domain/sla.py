"""The SLA report (SPEC 10.4): how fast a program responds, per crisis type and overall, from
each incident's first times. Plain data and arithmetic; the case-file reads are in
`infra/sla_facts.py`.

Percentiles are linear interpolation between order statistics, Hyndman and Fan's type 7 (numpy's
default `linear`, R's default, `statistics.quantiles(method="inclusive")`): for the n sorted
values x[0..n-1] and p in [0, 1], h = (n - 1) * p and the percentile is
x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]). The median is p = 0.5. An empty
sample has no percentile (None), never 0.

A follow-up share is over closed windows only (as HEDIS follow-up measures such as FUH do): an
incident whose `days`-day window after the disposition has not closed by the report's "as of"
instant is neither a hit nor a miss, even when its follow-up is already done.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ALL = "all"
FOLLOWUP_WINDOWS_DAYS = (7, 30)
# A report covers at most a leap year: longer windows are asked for in parts.
MAX_WINDOW = timedelta(days=366)


@dataclass(frozen=True)
class IncidentFacts:
    """One incident's first times: when it opened, and when each step first happened."""

    crisis_type: str
    opened_at: datetime
    first_assessment_at: datetime | None = None
    notified_at: datetime | None = None
    first_acknowledged_at: datetime | None = None
    dispatched_at: datetime | None = None
    first_arrival_at: datetime | None = None
    disposition_at: datetime | None = None
    first_followup_completed_at: datetime | None = None
    pages: int = 0


@dataclass(frozen=True)
class Measure:
    """An interval between two of an incident's times."""

    name: str
    label: str
    start: str
    end: str

    def seconds(self, facts: IncidentFacts) -> float | None:
        return interval_seconds(getattr(facts, self.start), getattr(facts, self.end))


MEASURES = (
    Measure("open_to_assessment", "Open to first assessment", "opened_at", "first_assessment_at"),
    Measure(
        "notify_to_acknowledgement",
        "Notify to first acknowledgement",
        "notified_at",
        "first_acknowledged_at",
    ),
    Measure("dispatch_to_arrival", "Dispatch to arrival", "dispatched_at", "first_arrival_at"),
    Measure(
        "disposition_to_followup",
        "Disposition to first completed follow-up",
        "disposition_at",
        "first_followup_completed_at",
    ),
)


@dataclass(frozen=True)
class Durations:
    """One measure over a group: how many incidents it covers, its median and 90th percentile."""

    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class SlaRow:
    """One group of incidents: a crisis type, or `all`."""

    crisis_type: str
    incidents: int
    measures: dict[str, Durations] = field(default_factory=dict)
    dispositions: int = 0
    followup_7d_eligible: int = 0
    followup_within_7_days: float | None = None
    followup_30d_eligible: int = 0
    followup_within_30_days: float | None = None
    pages_per_incident: float | None = None


def window_refusal(start: datetime, end: datetime) -> tuple[str, str] | None:
    """Why `[start, end)` is not a report's window, as (the field, what it must be); None if
    it is one: both times in UTC's years 1 to 9999, `to` after `from`, and at most 366 days
    after (exactly 366 is allowed)."""
    for name, moment in (("from", start), ("to", end)):
        if not _in_utc_range(moment):
            return name, "must be a time in the years 1 to 9999 in UTC"
    if end <= start:
        return "to", "must be after from"
    if end - start > MAX_WINDOW:
        return "to", f"must be at most {MAX_WINDOW.days} days after from"
    return None


def _in_utc_range(moment: datetime) -> bool:
    try:
        moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in the year 0 in UTC
        return False
    return True


def interval_seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end`; None when either is missing or `end` comes first (an
    ordering no real history has, left out rather than counted as a negative time)."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th quantile (p in [0, 1]) by linear interpolation, type 7; None for no values."""
    if not 0 <= p <= 1:
        raise ValueError(f"a percentile is between 0 and 1, not {p}")
    ordered = sorted(values)
    if not ordered:
        return None
    h = (len(ordered) - 1) * p
    below = math.floor(h)
    if below + 1 >= len(ordered):
        return ordered[below]
    return ordered[below] + (h - below) * (ordered[below + 1] - ordered[below])


def durations(values: Sequence[float]) -> Durations:
    return Durations(count=len(values), median=percentile(values, 0.5), p90=percentile(values, 0.9))


def followed_up_within(facts: IncidentFacts, days: int) -> bool:
    """A completed follow-up at most `days` after the disposition (exactly `days` counts)."""
    waited = interval_seconds(facts.disposition_at, facts.first_followup_completed_at)
    return waited is not None and waited <= timedelta(days=days).total_seconds()


def followup_window_closed(facts: IncidentFacts, days: int, as_of: datetime) -> bool:
    """Whether the `days` after the disposition are over by `as_of`: the window closes at the
    disposition plus `days` (a follow-up then still counts), so closing exactly at `as_of` is
    closed. No disposition, no window."""
    return facts.disposition_at is not None and facts.disposition_at + timedelta(days=days) <= as_of


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def sla_row(crisis_type: str, incidents: Sequence[IncidentFacts], *, as_of: datetime) -> SlaRow:
    """The row of these incidents as of `as_of` (the caller's clock: `min(to, now)`).

    The follow-up shares count, in numerator and denominator alike, only the incidents whose
    7-day (30-day) window after the disposition has closed by `as_of`; an open window is left
    out even when its follow-up is already completed (a known hit), so the share does not lean
    towards early follow-ups. `followup_7d_eligible` and `followup_30d_eligible` are those
    denominators; `dispositions` counts every incident with a disposition."""
    measures: dict[str, Durations] = {}
    for measure in MEASURES:
        found = [s for f in incidents if (s := measure.seconds(f)) is not None]
        measures[measure.name] = durations(found)
    disposed = [f for f in incidents if f.disposition_at is not None]
    eligible = {
        days: [f for f in disposed if followup_window_closed(f, days, as_of)]
        for days in FOLLOWUP_WINDOWS_DAYS
    }
    within = {days: sum(followed_up_within(f, days) for f in eligible[days]) for days in eligible}
    pages = sum(f.pages for f in incidents)
    return SlaRow(
        crisis_type=crisis_type,
        incidents=len(incidents),
        measures=measures,
        dispositions=len(disposed),
        followup_7d_eligible=len(eligible[7]),
        followup_within_7_days=_share(within[7], len(eligible[7])),
        followup_30d_eligible=len(eligible[30]),
        followup_within_30_days=_share(within[30], len(eligible[30])),
        pages_per_incident=_share(pages, len(incidents)),
    )


def sla_report(
    incidents: Iterable[IncidentFacts], crisis_types: Iterable[str], *, as_of: datetime
) -> list[SlaRow]:
    """A row per crisis type (each of `crisis_types`, in that order, then any other type the
    incidents have, by name), and last the row `all` over every incident; the follow-up shares
    as of `as_of` (see `sla_row`)."""
    listed = list(incidents)
    types = list(dict.fromkeys(crisis_types))
    types += sorted({f.crisis_type for f in listed} - set(types))
    rows = [sla_row(t, [f for f in listed if f.crisis_type == t], as_of=as_of) for t in types]
    rows.append(sla_row(ALL, listed, as_of=as_of))
    return rows
