"""The SLA report on the supervisor's page (`/supervise`): a from/to form in calendar days (UTC,
both days included; the last 30 days unless asked), the report's table, its plots, and the CSV
download of the same report (`/supervise/sla.csv`, on the console's session). The figures are
those of `GET /v1/reports/sla` (the same service)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from api.console.rendering import page, templates
from api.console.session import Browser, require_role
from api.console.sla_plots import Plot, duration_words, share_words, sla_plots
from api.deps import Now, SessionDep
from api.routes.reports import SlaReport, csv_answer, sla_report_for
from domain.sla import MAX_WINDOW, MEASURES, Measure, window_refusal
from domain.vocabulary import Role

router = APIRouter(include_in_schema=False)
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class ConsoleWindow:
    """Calendar days `first` to `last`, both included: `[first 00:00, last + 1 day 00:00)` UTC."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), UTC)

    def query(self) -> str:
        return urlencode({"from": self.first.isoformat(), "to": self.last.isoformat()})


def default_window(today: date) -> ConsoleWindow:
    return ConsoleWindow(today - timedelta(days=DEFAULT_DAYS - 1), today)


def asked_window(query: Mapping[str, str], today: date) -> tuple[ConsoleWindow, str | None]:
    """The window the form asks for, or the default one and why the asked one is not a window."""
    fallback = default_window(today)
    if "from" not in query and "to" not in query:
        return fallback, None
    try:
        asked = ConsoleWindow(
            date.fromisoformat(query.get("from") or fallback.first.isoformat()),
            date.fromisoformat(query.get("to") or fallback.last.isoformat()),
        )
    except ValueError:
        return fallback, "The dates must be calendar days, like 2026-01-31."
    if asked.last >= date.max:  # its end (the next midnight) is past the calendar's last day
        return fallback, f"The last day must be before {date.max.isoformat()}."
    if window_refusal(asked.start, asked.end) is None:
        return asked, None
    if asked.last < asked.first:
        return fallback, "The last day must not be before the first day."
    return fallback, f"The window can be at most {MAX_WINDOW.days} days."


@dataclass(frozen=True)
class SlaSection:
    window: ConsoleWindow
    report: SlaReport
    plots: list[Plot]
    csv_url: str
    problem: str | None = None
    measures: tuple[Measure, ...] = MEASURES


async def sla_section(
    session: AsyncSession, program_id: uuid.UUID, query: Mapping[str, str], now: datetime
) -> SlaSection:
    window, problem = asked_window(query, now.astimezone(UTC).date())
    report = await sla_report_for(
        session, program_id=program_id, start=window.start, end=window.end, now=now
    )
    return SlaSection(
        window=window,
        report=report,
        plots=sla_plots(report.data),
        csv_url=f"/supervise/sla.csv?{window.query()}",
        problem=problem,
    )


templates.env.filters["duration"] = duration_words
templates.env.filters["share"] = share_words


@router.get("/supervise/sla.csv")
async def sla_csv(request: Request, me: Browser, session: SessionDep, now: Now) -> Response:
    """The report the page shows, as the CSV of `GET /v1/reports/sla?format=csv`."""
    require_role(me, Role.SUPERVISOR)
    window, problem = asked_window(request.query_params, now.astimezone(UTC).date())
    if problem is not None:
        return page(request, "refused.html", {"message": problem}, status_code=422)
    report = await sla_report_for(
        session, program_id=me.staff.program_id, start=window.start, end=window.end, now=now
    )
    return csv_answer(report)
