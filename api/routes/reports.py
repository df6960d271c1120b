"""The SLA report for supervisors (SPEC 10.4): per crisis type and overall, how fast the program
responded to the incidents opened in a window, as JSON or CSV (the same rows and columns).

Not an audited read: the report is counts, durations and shares over groups of incidents, with no
client, incident or note in it (the audit log records who read which client's record).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import Now, SessionDep, Supervisor
from api.problems import Problem
from domain.models.json_types import DateTimeQuery
from domain.sla import MEASURES, SlaRow, sla_report, window_refusal
from domain.vocabulary import CrisisType
from infra.sla_facts import incident_facts

router = APIRouter(prefix="/v1/reports", tags=["reports"])

PERCENTILE_METHOD = "linear interpolation between order statistics (type 7, numpy's default)"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


class SlaReportRow(BaseModel):
    """One crisis type (or `all`): the CSV's columns, in the same order. Durations are seconds;
    a follow-up share is a fraction of its `*_eligible` count: the incidents whose 7-day (30-day)
    window after the disposition had closed by the report's `as_of` (an open window is neither
    a hit nor a miss, even with its follow-up done); null where there is no value."""

    model_config = ConfigDict(extra="forbid")

    crisis_type: str = Field(max_length=32)
    incidents: int
    open_to_assessment_count: int
    open_to_assessment_median_seconds: float | None
    open_to_assessment_p90_seconds: float | None
    notify_to_acknowledgement_count: int
    notify_to_acknowledgement_median_seconds: float | None
    notify_to_acknowledgement_p90_seconds: float | None
    dispatch_to_arrival_count: int
    dispatch_to_arrival_median_seconds: float | None
    dispatch_to_arrival_p90_seconds: float | None
    disposition_to_followup_count: int
    disposition_to_followup_median_seconds: float | None
    disposition_to_followup_p90_seconds: float | None
    dispositions: int = Field(description="the incidents with a disposition")
    followup_7d_eligible: int = Field(
        description="the incidents with a disposition at least 7 days before `as_of`: "
        "the 7-day share's denominator"
    )
    followup_within_7_days: float | None = Field(
        description="of `followup_7d_eligible`, the share with a follow-up completed within "
        "7 days of the disposition (exactly 7 days counts)"
    )
    followup_30d_eligible: int = Field(
        description="the incidents with a disposition at least 30 days before `as_of`: "
        "the 30-day share's denominator"
    )
    followup_within_30_days: float | None = Field(
        description="of `followup_30d_eligible`, the share with a follow-up completed within "
        "30 days of the disposition (exactly 30 days counts)"
    )
    pages_per_incident: float | None

    @classmethod
    def of(cls, row: SlaRow) -> SlaReportRow:
        values: dict[str, object] = {"crisis_type": row.crisis_type, "incidents": row.incidents}
        for measure in MEASURES:
            durations = row.measures[measure.name]
            values[f"{measure.name}_count"] = durations.count
            values[f"{measure.name}_median_seconds"] = durations.median
            values[f"{measure.name}_p90_seconds"] = durations.p90
        values |= {
            "dispositions": row.dispositions,
            "followup_7d_eligible": row.followup_7d_eligible,
            "followup_within_7_days": row.followup_within_7_days,
            "followup_30d_eligible": row.followup_30d_eligible,
            "followup_within_30_days": row.followup_within_30_days,
            "pages_per_incident": row.pages_per_incident,
        }
        return cls.model_validate(values)


class SlaReport(BaseModel):
    """The report over the program's incidents opened in `[from, to)`: a row per crisis type,
    then `all`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    program_id: uuid.UUID
    window_from: datetime = Field(alias="from")
    window_to: datetime = Field(alias="to")
    as_of: datetime = Field(
        description="the time of the request: the follow-up shares count the windows closed "
        "by then (a window's figures settle 30 days after `to`)"
    )
    percentile_method: str
    data: list[SlaReportRow] = Field(max_length=64)  # the crisis types, then `all`
    count: int


async def sla_report_for(
    session: AsyncSession, *, program_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> SlaReport:
    """The report a supervisor of `program_id` reads at `now` (the console's page shows the
    same): its follow-up shares count the windows closed by `now`, so a past window's report
    includes the dispositions of its last days once their follow-up windows have closed."""
    as_of = now
    facts = await incident_facts(session, program_id=program_id, start=start, end=end)
    rows = [SlaReportRow.of(row) for row in sla_report(facts, list(CrisisType), as_of=as_of)]
    return SlaReport(
        program_id=program_id,
        window_from=start,
        window_to=end,
        as_of=as_of,
        percentile_method=PERCENTILE_METHOD,
        data=rows,
        count=len(rows),
    )


def report_csv(report: SlaReport) -> str:
    """The report's rows as CSV: a header of the JSON row's keys, empty cells for nulls."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(SlaReportRow.model_fields), lineterminator="\n")
    writer.writeheader()
    for row in report.data:
        writer.writerow({k: "" if v is None else v for k, v in row.model_dump().items()})
    return out.getvalue()


def csv_filename(start: datetime, end: datetime) -> str:
    return f"sla-report-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.csv"


def csv_answer(report: SlaReport) -> Response:
    filename = csv_filename(report.window_from, report.window_to)
    return Response(
        report_csv(report),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def checked_window(start: datetime, end: datetime) -> None:
    refusal = window_refusal(start, end)
    if refusal is not None:
        field, message = f"query.{refusal[0]}", refusal[1]
        raise Problem(
            422,
            "Unprocessable content",
            f"{field}: {message}",
            errors=[{"field": field, "message": message}],
        )


_CSV_HEADERS = {
    "Content-Disposition": {
        "description": "`attachment`, with a file name naming the window",
        "schema": {"type": "string"},
    }
}


@router.get(
    "/sla",
    response_model=SlaReport,
    responses={
        200: {
            "description": "the report: JSON, or with `format=csv` the same rows as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": _CSV_HEADERS,
        },
        422: {"description": "a malformed time, or a window that is not `from < to <= from+366d`"},
    },
)
async def sla(
    supervisor: Supervisor,
    session: SessionDep,
    now: Now,
    start: Annotated[
        DateTimeQuery,
        Query(alias="from", description="the window's start (incidents opened at or after it)"),
    ],
    end: Annotated[
        DateTimeQuery,
        Query(
            alias="to",
            description="the window's end, excluded: after `from`, at most 366 days after it",
        ),
    ],
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> SlaReport | Response:
    """How fast the program responded to the incidents opened in `[from, to)`, per crisis type
    and overall (`all`): the incident count; the median and 90th percentile, in seconds, of open
    to first assessment, notify to first acknowledgement, dispatch to arrival, and disposition
    to first completed follow-up; the share of the incidents with a disposition whose follow-up
    was completed within 7 and within 30 days of it (exactly 7 days counts); pages per incident.

    A follow-up share counts only the incidents whose window after the disposition had closed
    by `as_of`, the time of the request (its denominator is `followup_7d_eligible` or
    `followup_30d_eligible`): a recent disposition is neither a hit nor a miss yet.

    Percentiles interpolate linearly between order statistics (type 7); a measure no incident
    has is null, never 0."""
    checked_window(start, end)
    report = await sla_report_for(
        session, program_id=supervisor.program_id, start=start, end=end, now=now
    )
    return csv_answer(report) if output == "csv" else report
