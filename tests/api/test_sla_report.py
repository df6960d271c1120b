"""The SLA report (SPEC 10.4) over a seeded history of 220 incidents whose times the test knows:
every count, median, p90 and share is the hand computation's (the follow-up shares over the
windows closed by `as_of`, read on a fixed request clock), CSV and JSON agree, and the window is
checked."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from api.app import create_app
from api.deps import request_time
from domain.vocabulary import CrisisType, Role
from infra.settings import Settings
from tests.helpers.problems import assert_invalid, assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.sla_history import SEEDED_TYPES, hand_report, seed_history
from tests.helpers.stack import KEYRING

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}


@dataclass
class Clock:
    """The request clock the app reads (`api.deps.request_time`), set by the test."""

    # After the window and its follow-ups (before the tokens' expiry, which the same clock reads).
    now: datetime = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture(loop_scope="session")
async def http(database_url: str, tmp_path: Path, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on the test's database, on the test's clock; the report never touches
    Temporal."""
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, encryption_keys=KEYRING.render()
    )
    app = create_app(settings)
    app.dependency_overrides[request_time] = lambda: clock.now
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await app.state.runtime.close()


def _same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, rel=1e-12), (expected["crisis_type"], key)
        else:
            assert actual[key] == value, (expected["crisis_type"], key)


async def test_every_figure_is_the_hand_computation_and_csv_agrees(
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
    clock: Clock,
) -> None:
    other = await make_program(sessions, slug="other")
    seeded = await seed_history(sessions, program, start=START, end=END, other_program=other)
    assert len(seeded) >= 200

    answer = await http.get("/v1/reports/sla", params=WINDOW, headers=program.auth(Role.SUPERVISOR))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["program_id"] == str(program.program.id)
    assert (report["from"], report["to"]) == ("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z")
    assert report["as_of"] == "2026-04-15T12:00:00Z"  # read when it is read
    assert "type 7" in report["percentile_method"]
    expected = hand_report(seeded, [str(t) for t in CrisisType], clock.now)
    assert [r["crisis_type"] for r in report["data"]] == [r["crisis_type"] for r in expected]
    assert report["count"] == len(expected)
    for actual, wanted in zip(report["data"], expected, strict=True):
        _same(actual, wanted)

    everything = report["data"][-1]
    assert everything["incidents"] == len(seeded)  # not the ones at `to`, before `from`, elsewhere
    for crisis_type in SEEDED_TYPES:  # each seeded type has every measure
        row = next(r for r in report["data"] if r["crisis_type"] == crisis_type)
        assert all(row[f"{m}_median_seconds"] is not None for m in _MEASURES)
    unseeded = next(r for r in report["data"] if r["crisis_type"] == "medical")
    assert unseeded["incidents"] == 0
    assert unseeded["open_to_assessment_median_seconds"] is None
    assert unseeded["followup_within_7_days"] is None
    assert unseeded["pages_per_incident"] is None
    # The boundaries are in the history: follow-ups at exactly 7 days count, a second later not.
    assert 0 < everything["followup_within_7_days"] < everything["followup_within_30_days"] < 1
    # Read six weeks after `to`: every disposition's 7- and 30-day windows have closed.
    assert everything["followup_30d_eligible"] == everything["dispositions"]
    assert everything["followup_7d_eligible"] == everything["dispositions"]

    as_csv = await http.get(
        "/v1/reports/sla",
        params={**WINDOW, "format": "csv"},
        headers=program.auth(Role.SUPERVISOR),
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = as_csv.headers["content-disposition"]
    assert disposition == (
        'attachment; filename="sla-report-20260101T000000Z-20260301T000000Z.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert list(rows[0]) == list(report["data"][0])
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in report["data"]]

    # Read nine days after `to`, the last dispositions' 30-day windows are still open: they are
    # in neither side of the 30-day share yet; every 7-day window has closed.
    clock.now = datetime(2026, 3, 10, tzinfo=UTC)
    early = (
        await http.get("/v1/reports/sla", params=WINDOW, headers=program.auth(Role.SUPERVISOR))
    ).json()["data"][-1]
    _same(early, hand_report(seeded, [str(t) for t in CrisisType], clock.now)[-1])
    assert 0 < early["followup_30d_eligible"] < early["followup_7d_eligible"]
    assert early["followup_7d_eligible"] == early["dispositions"]


async def test_a_report_read_before_to_is_as_of_now(
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
    clock: Clock,
) -> None:
    seeded = await seed_history(sessions, program, start=START, end=END)
    clock.now = datetime(2026, 2, 10, 9, 30, tzinfo=UTC)

    answer = await http.get("/v1/reports/sla", params=WINDOW, headers=program.auth(Role.SUPERVISOR))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["as_of"] == "2026-02-10T09:30:00Z"
    expected = hand_report(seeded, [str(t) for t in CrisisType], clock.now)
    for actual, wanted in zip(report["data"], expected, strict=True):
        _same(actual, wanted)
    everything = report["data"][-1]
    later = hand_report(seeded, [str(t) for t in CrisisType], END)[-1]
    assert 0 < everything["followup_30d_eligible"] < later["followup_30d_eligible"]
    assert everything["followup_7d_eligible"] < later["followup_7d_eligible"]

    as_csv = await http.get(
        "/v1/reports/sla",
        params={**WINDOW, "format": "csv"},
        headers=program.auth(Role.SUPERVISOR),
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows == [{k: "" if v is None else str(v) for k, v in r.items()} for r in report["data"]]


_MEASURES = (
    "open_to_assessment",
    "notify_to_acknowledgement",
    "dispatch_to_arrival",
    "disposition_to_followup",
)


async def test_an_empty_window_reports_zero_incidents_and_nulls(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    answer = await http.get("/v1/reports/sla", params=WINDOW, headers=program.auth(Role.SUPERVISOR))
    assert answer.status_code == 200, answer.text
    everything = answer.json()["data"][-1]
    assert everything["crisis_type"] == "all"
    assert everything["incidents"] == 0
    assert everything["open_to_assessment_median_seconds"] is None
    assert everything["pages_per_incident"] is None


@pytest.mark.parametrize(
    ("query", "field", "detail"),
    [
        ({"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "query.to", "after from"),
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "query.to", "after from"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-02T00:00:01Z"}, "query.to", "366 days"),
        ({"from": "2026-01-01", "to": "2026-01-02T00:00:00Z"}, "query.from", "RFC 3339"),
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}, "query.from", "RFC 3339"),
        ({"from": "2026-01-01T00:00:00Z"}, "query.to", "Field required"),
        ({"from": "0001-01-01T00:00:00+01:00", "to": "2026-01-01T00:00:00Z"}, "query.from", "UTC"),
        ({**WINDOW, "format": "xlsx"}, "query.format", "json"),
        ({**WINDOW, "crisis_type": "panic"}, "crisis_type", "not a query parameter"),
    ],
)
async def test_a_wrong_window_is_refused_naming_the_field(
    http: httpx.AsyncClient, program: DemoProgram, query: dict[str, str], field: str, detail: str
) -> None:
    answer = await http.get("/v1/reports/sla", params=query, headers=program.auth(Role.SUPERVISOR))
    problem = assert_invalid(answer, field.removeprefix("query."))
    assert problem["errors"][0]["field"] == field  # type: ignore[index]
    assert detail in str(problem["detail"])


async def test_a_window_of_exactly_366_days_is_a_report(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    query = {"from": start.isoformat(), "to": (start + timedelta(days=366)).isoformat()}
    answer = await http.get("/v1/reports/sla", params=query, headers=program.auth(Role.SUPERVISOR))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FOLLOWUP, Role.ADMIN])
async def test_only_supervisors_read_the_report(
    http: httpx.AsyncClient, program: DemoProgram, role: Role
) -> None:
    answer = await http.get("/v1/reports/sla", params=WINDOW, headers=program.auth(role))
    assert role.value in assert_problem(answer, 403)["detail"]
