"""The SLA report on the supervisor's page over the real app: the table and a plot per measure
(SVG, bars for the seeded crisis types with the report's own values), the CSV download the same
as the API's, and a wrong window answered with the default one and why."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from api.app import create_app
from domain.vocabulary import Role
from infra.settings import Settings
from tests.helpers.console_pages import problem_of, text_of
from tests.helpers.programs import DemoProgram
from tests.helpers.sla_history import SEEDED_TYPES, seed_history
from tests.helpers.stack import KEYRING

MEASURES = (
    "open_to_assessment",
    "notify_to_acknowledgement",
    "dispatch_to_arrival",
    "disposition_to_followup",
)
SVG = re.compile(r'<svg [^>]*data-measure="([a-z_]+)"[^>]*>(.*?)</svg>', re.S)
BAR = re.compile(r'<g data-crisis-type="([a-z_]+)">(.*?)</g>', re.S)
RECT = re.compile(r'<rect [^>]*data-statistic="(median|p90)" data-seconds="([^"]+)"')
FOLLOWUP = re.compile(r'<td data-followup="(7|30)">([^<]*) <span class="muted">([^<]*)</span>')


def _sla_row(html: str, crisis_type: str) -> str:
    found = re.search(rf'<tr data-sla-row="{crisis_type}">(.*?)</tr>', html, re.S)
    assert found is not None
    return found.group(1)


@pytest_asyncio.fixture(loop_scope="session")
async def app_http(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, encryption_keys=KEYRING.render()
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await app.state.runtime.close()


async def _sign_in(http: httpx.AsyncClient, program: DemoProgram, role: Role) -> None:
    answer = await http.post("/signin", data={"token": program.tokens[role]})
    assert answer.status_code == 303, answer.text


async def test_the_page_plots_each_measure_for_the_seeded_types(
    app_http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
) -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    await seed_history(sessions, program, start=start, end=end, count=200)
    api = await app_http.get(
        "/v1/reports/sla",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        headers=program.auth(Role.SUPERVISOR),
    )
    rows = {r["crisis_type"]: r for r in api.json()["data"]}
    await _sign_in(app_http, program, Role.SUPERVISOR)

    shown = await app_http.get("/supervise", params={"from": "2026-01-01", "to": "2026-02-28"})
    assert shown.status_code == 200, shown.text
    assert 'data-sla-report="2026-01-01/2026-02-28"' in shown.text
    assert "style=" not in shown.text  # the CSP allows no inline style
    plots = dict(SVG.findall(shown.text))
    assert set(plots) == set(MEASURES)
    for measure, svg in plots.items():
        groups = dict(BAR.findall(svg))
        assert set(groups) == {*SEEDED_TYPES, "all"}  # types without incidents are not drawn
        for crisis_type, bars in groups.items():
            drawn = {statistic: float(seconds) for statistic, seconds in RECT.findall(bars)}
            row = rows[crisis_type]
            assert drawn == {
                "median": row[f"{measure}_median_seconds"],
                "p90": row[f"{measure}_p90_seconds"],
            }
            assert "<title>" in bars  # each bar says its value to a screen reader
    assert 'role="img"' in shown.text and "<desc id=" in shown.text
    seen = text_of(shown.text)
    assert "Open to first assessment: median and 90th percentile by crisis type" in seen
    assert f"{rows['all']['followup_within_7_days'] * 100:.1f}%" in seen
    # Each share says what it is of: the incidents whose window had closed by `as_of`.
    everything = rows["all"]
    assert FOLLOWUP.findall(_sla_row(shown.text, "all")) == [
        (
            days,
            f"{everything[f'followup_within_{days}_days'] * 100:.1f}%",
            f"(n = {everything[f'followup_{days}d_eligible']})",
        )
        for days in ("7", "30")
    ]
    # Read months after the window: every disposition's follow-up window has closed.
    assert everything["followup_30d_eligible"] == everything["dispositions"]

    link = re.search(r'href="(/supervise/sla\.csv\?[^"]+)"', shown.text)
    assert link is not None
    download = await app_http.get(link.group(1).replace("&amp;", "&"))
    as_csv = await app_http.get(
        "/v1/reports/sla",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "format": "csv"},
        headers=program.auth(Role.SUPERVISOR),
    )
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.text == as_csv.text


async def test_a_wrong_window_shows_why_and_the_last_30_days(
    app_http: httpx.AsyncClient, program: DemoProgram
) -> None:
    await _sign_in(app_http, program, Role.SUPERVISOR)
    shown = await app_http.get("/supervise", params={"from": "2026-03-01", "to": "2026-02-01"})
    assert shown.status_code == 200
    assert problem_of(shown.text) == (
        "The last day must not be before the first day. Showing the last 30 days."
    )
    today = datetime.now(UTC).date()
    first = today - timedelta(days=29)
    assert f'data-sla-report="{first.isoformat()}/{today.isoformat()}"' in shown.text
    longest = await app_http.get("/supervise", params={"from": "2025-01-01", "to": "2026-01-01"})
    assert problem_of(longest.text) is None  # 366 days, both included
    too_long = await app_http.get("/supervise", params={"from": "2024-12-31", "to": "2026-01-01"})
    assert problem_of(too_long.text) == (
        "The window can be at most 366 days. Showing the last 30 days."
    )
    refused = await app_http.get("/supervise/sla.csv", params={"from": "x", "to": "2026-01-01"})
    assert refused.status_code == 422
    # The calendar's last day has no next midnight to end on: refused, not a server error.
    edge = {"from": "9999-12-30", "to": "9999-12-31"}
    at_the_end = await app_http.get("/supervise", params=edge)
    assert at_the_end.status_code == 200
    assert problem_of(at_the_end.text) == (
        "The last day must be before 9999-12-31. Showing the last 30 days."
    )
    assert (await app_http.get("/supervise/sla.csv", params=edge)).status_code == 422


async def test_only_a_supervisor_downloads_the_csv(
    app_http: httpx.AsyncClient, program: DemoProgram
) -> None:
    await _sign_in(app_http, program, Role.CLINICIAN)
    refused = await app_http.get("/supervise/sla.csv")
    assert refused.status_code == 404
