"""Opening hours of a resource: a weekly schedule on the local clock of the program.

A schedule maps `mon` .. `sun` to `closed` or to spans like `08:00-20:00`, several separated by
commas (`08:00-12:00,13:00-17:00`). A span that ends at or before it starts runs past midnight
(`20:00-02:00` on Monday is open until 02:00 on Tuesday); `24:00` ends a span at midnight. A day
that is not in the schedule is closed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
CLOSED = "closed"
_DAY_MINUTES = 24 * 60
_SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24:00))$")


_HM = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"


def _span_pattern(group: int) -> str:
    # The lookahead refuses a span that opens and closes at the same time.
    return rf"\s*(?!({_HM})-\{group}\s*(?:,|$)){_HM}-(?:{_HM}|24:00)\s*"


# The rule of `parse_day` for the OpenAPI document, day by day (ECMA-262 and Python alike).
HOURS_SCHEMA = {
    "properties": {
        day: {
            "type": "string",
            "pattern": rf"^\s*[Cc][Ll][Oo][Ss][Ee][Dd]\s*$"
            rf"|^{_span_pattern(1)}(?:,{_span_pattern(2)})*$",
        }
        for day in DAYS
    },
    "additionalProperties": False,
}


class HoursError(ValueError):
    """A schedule that cannot be read; `day` is the key at fault (None for the whole schedule)."""

    def __init__(self, day: str | None, problem: str) -> None:
        super().__init__(f"{day}: {problem}" if day else problem)
        self.day = day
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Span:
    """Open from `start` to `end`, in minutes after local midnight; `end <= start` runs past
    midnight into the next day."""

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


def parse_day(day: str, value: str) -> tuple[Span, ...]:
    """The spans of one day's entry (none when it is `closed`)."""
    text = value.strip().lower()
    if text == CLOSED:
        return ()
    spans: list[Span] = []
    for part in text.split(","):
        match = _SPAN.match(part.strip())
        if match is None:
            raise HoursError(day, f"{value!r} is not HH:MM-HH:MM (or several, comma-separated)")
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = _DAY_MINUTES if match.group(5) else int(match.group(3)) * 60 + int(match.group(4))
        if end == start:
            raise HoursError(day, f"{part.strip()!r} opens and closes at the same time")
        spans.append(Span(start, end))
    return tuple(spans)


def normalized_hours(hours: Mapping[str, str]) -> dict[str, str]:
    """The schedule checked and written the one way it is stored, in weekday order."""
    unknown = [key for key in hours if key not in DAYS]
    if unknown:
        raise HoursError(None, f"{unknown[0]!r} is not a day; use {', '.join(DAYS)}")
    normalized: dict[str, str] = {}
    for day in DAYS:
        if day in hours:
            spans = parse_day(day, hours[day])
            normalized[day] = ",".join(_render(s) for s in spans) if spans else CLOSED
    return normalized


def is_open(*, open_24_7: bool, hours: Mapping[str, str], zone: ZoneInfo, at: datetime) -> bool:
    """Whether a resource is open at the instant `at`, read on the clock of `zone`.

    A resource that is not 24/7 and has no schedule is never reported open: unknown hours are
    not a promise that someone will answer the door.
    """
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    if open_24_7:
        return True
    local = at.astimezone(zone)
    minute = local.hour * 60 + local.minute
    today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
    for span in _spans(hours, today):
        if span.start <= minute and (span.overnight or minute < span.end):
            return True
    return any(span.overnight and minute < span.end for span in _spans(hours, yesterday))


def _spans(hours: Mapping[str, str], day: str) -> tuple[Span, ...]:
    value = hours.get(day)
    return parse_day(day, value) if value is not None else ()


def _render(span: Span) -> str:
    return f"{_clock(span.start)}-{_clock(span.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
