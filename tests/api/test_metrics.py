"""`GET /metrics` (SPEC 10.4): Prometheus text whose counters move with the actions that drive
them, labelled by enumeration values and route templates only, behind a token when one is set."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.vocabulary import Role
from infra.settings import Settings
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram, add_emailed_sister
from tests.helpers.stack import KEYRING, Stack, running_stack
from tests.workflows.scenarios import CSSRS_MODERATE

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TOKEN = "metrics-token-" + "x" * 32
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """The stack with every scrape reading the case file afresh (no 5 s cache)."""
    async with running_stack(
        ts_env, database_url, sessions, tmp_path, metrics_cache_seconds=0
    ) as running:
        yield running


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` that has these labels (and any others)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


async def test_the_counters_move_with_the_actions_that_drive_them(
    fresh_stack: Stack,
    program: DemoProgram,
    sessions: async_sessionmaker[AsyncSession],
    ts_env: WorkflowEnvironment,
) -> None:
    stack = fresh_stack
    before = await scrape(stack.http)
    assert value(before, "crisisdesk_casefile_up") == 1
    assert value(before, "crisisdesk_incidents_opened_total", crisis_type="overdose") == 0

    incident = await open_incident(stack, program, "overdose")
    opened = "crisisdesk_incidents_opened_total"

    async def projected() -> Samples | None:
        samples = await scrape(stack.http)
        return samples if value(samples, opened, crisis_type="overdose") == 1 else None

    after_open = await eventually(projected, "the opening counted")
    post = {"route": "/v1/incidents", "method": "POST", "status": "201"}
    assert value(after_open, "crisisdesk_http_request_duration_seconds_count", **post) == 1
    assert value(after_open, "crisisdesk_incidents_open", crisis_type="overdose", stage="open")

    # The overdose protocol's assessment window is 2 minutes: its alarm pages the supervisor.
    await ts_env.sleep(timedelta(minutes=3))

    async def sounded() -> Samples | None:
        samples = await scrape(stack.http)
        alarm = value(samples, "crisisdesk_alarms_sounded_total", alarm="assessment_overdue")
        return samples if alarm >= 1 else None

    after_alarm = await eventually(sounded, "the assessment alarm counted")
    assert value(after_alarm, "crisisdesk_pages_total") >= 1
    assert total(after_alarm, "crisisdesk_page_sends_total") >= 1
    pages_before = value(after_alarm, "crisisdesk_pages_total")

    await decide(stack, program, incident["id"], {"kind": "note", "text": "Naloxone given"})
    await decide(stack, program, incident["id"], {"kind": "escalate", "reason": "Second look"})

    async def decided() -> Samples | None:
        samples = await scrape(stack.http)
        escalated = value(samples, "crisisdesk_decisions_total", kind="escalate") == 1
        paged = value(samples, "crisisdesk_pages_total") == pages_before + 1
        return samples if escalated and paged else None

    after_decisions = await eventually(decided, "the decisions and the escalation page counted")
    assert value(after_decisions, "crisisdesk_decisions_total", kind="note") == 1
    decision_route = {
        "route": "/v1/incidents/{incident_id}/decisions",
        "method": "POST",
        "status": "200",
    }
    duration_count = "crisisdesk_http_request_duration_seconds_count"
    assert value(after_decisions, duration_count, **decision_route) == 2

    cancelled = await open_incident(stack, program, "panic")
    await decide(stack, program, cancelled["id"], {"kind": "cancel", "reason": "Wrong client"})

    async def ended() -> Samples | None:
        samples = await scrape(stack.http)
        closed = "crisisdesk_incidents_closed_total"
        return samples if value(samples, closed, crisis_type="panic", stage="cancelled") else None

    after_cancel = await eventually(ended, "the cancelled incident counted as ended")
    assert value(after_cancel, opened, crisis_type="panic") == 1
    assert value(after_cancel, "crisisdesk_projection_lag_seconds") >= 0

    # A reclassified incident stays counted under the type it opened as: a counter never drops.
    sos_like = await open_incident(stack, program, "other")
    await decide(
        stack,
        program,
        sos_like["id"],
        {
            "kind": "reclassify",
            "crisis_type": "withdrawal",
            "reason": "Shaking and sweating since this morning",
        },
    )

    async def moved() -> Samples | None:
        samples = await scrape(stack.http)
        now_open = "crisisdesk_incidents_open"
        return samples if total(samples, now_open, crisis_type="withdrawal") == 1 else None

    after_move = await eventually(moved, "the reclassified incident counted as withdrawal")
    assert value(after_move, opened, crisis_type="other") == 1
    assert value(after_move, opened, crisis_type="withdrawal") == 0
    assert total(after_move, "crisisdesk_incidents_open", crisis_type="other") == 0


async def test_a_contact_ladder_is_counted_by_purpose_and_outcome(
    fresh_stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stack = fresh_stack
    sister = await add_emailed_sister(sessions, program)
    incident = await open_incident(stack, program, "suicidal_ideation")
    assessment = {**CSSRS_MODERATE, "risk_override": "high", "justification": "Plan and means"}
    await decide(stack, program, incident["id"], assessment)
    notify = {
        "kind": "notify_contacts",
        "contact_ids": [str(sister.id)],
        "basis": "serious_imminent_threat",
    }
    await decide(stack, program, incident["id"], notify)

    async def counted() -> Samples | None:
        samples = await scrape(stack.http)
        ladders = "crisisdesk_contact_ladders_total"
        return samples if total(samples, ladders, purpose="emergency_contact") == 1 else None

    samples = await eventually(counted, "the ladder counted")
    statuses = {
        dict(labels)["status"]
        for (name, labels), v in samples.items()
        if name == "crisisdesk_contact_ladders_total" and v
    }
    assert statuses <= {"running", "acknowledged", "exhausted", "stopped"}
    await _no_label_tells_anything_about_a_client(stack, program)


async def _no_label_tells_anything_about_a_client(stack: Stack, program: DemoProgram) -> None:
    await stack.http.get(f"/v1/clients/{program.client.id}", headers=program.auth(Role.CLINICIAN))
    await stack.http.get(f"/v1/no/such/{program.client.id}")
    samples = await scrape(stack.http)
    labels = {v for (_, found) in samples for _, v in found}
    client = program.client
    names = {client.first_name, client.last_name, *(s.name for s in program.staff.values())}
    for label in labels:
        assert not UUID.search(label), label
        assert not PHONE.search(label), label
        assert not EMAIL.search(label), label
        assert not any(name.lower() in label.lower() for name in names), label
    route_labels = {dict(found).get("route") for (_, found) in samples} - {None}
    assert "/v1/clients/{client_id}" in route_labels
    assert "unmatched" in route_labels


async def test_a_set_token_is_required_from_every_scraper(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        encryption_keys=KEYRING.render(),
        metrics_token=TOKEN,
    )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["status"] == 401
            assert refused.headers["www-authenticate"] == "Bearer"
        samples = await scrape(http, Authorization=f"Bearer {TOKEN}")
    await app.state.runtime.close()
    assert value(samples, "crisisdesk_casefile_up") == 1
    refused_count = value(
        samples,
        "crisisdesk_http_request_duration_seconds_count",
        route="/metrics",
        method="GET",
        status="401",
    )
    assert refused_count == 3


async def test_without_a_token_only_a_loopback_client_may_scrape(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    app = create_app(settings)
    remote = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://test") as http:
        refused = await http.get("/metrics")
    local = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=local, base_url="http://test") as http:
        allowed = await http.get("/metrics")
    await app.state.runtime.close()
    assert refused.status_code == 401
    assert "CRISISDESK_METRICS_TOKEN" in refused.json()["detail"]
    assert allowed.status_code == 200
