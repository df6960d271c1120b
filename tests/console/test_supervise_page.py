"""The supervisor's pages over the real app: pick an incident, read its merged history as a
timeline, and see whether the audit chain is intact or where it breaks."""

from __future__ import annotations

import re
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import AuditEvent
from domain.vocabulary import Role
from infra.db import transaction
from tests.helpers.console_pages import signed_in, text_of
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE

KINDS = re.compile(r'data-event-kind="([^"]+)"')


async def test_a_supervisor_picks_an_incident_and_reads_its_history(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    await decide(stack, program, incident["id"], CSSRS_MODERATE)
    async with signed_in(stack, program, Role.SUPERVISOR) as browser:
        listing = await browser.get("/supervise")
        assert listing.status_code == 200
        assert listing.headers["cache-control"] == "no-store"
        link = f'href="/supervise/incidents/{incident["id"]}"'
        assert link in listing.text
        seen = text_of(listing.text)
        assert "SLA report" in seen and "data-sla-csv" in listing.text
        assert re.search(r"Intact: \d+ events of this program verified", seen)

        history = await browser.get(f"/supervise/incidents/{incident['id']}")
        assert history.status_code == 200
        assert "data-timeline" in history.text
        kinds = KINDS.findall(history.text)
        assert "temporal.workflow_execution_started" in kinds
        assert "decision.assessment" in kinds
        assert any(k.startswith("audit.") for k in kinds)
        case_file = await browser.get(
            f"/supervise/incidents/{incident['id']}", params={"events": "case"}
        )
        only = KINDS.findall(case_file.text)
        assert "decision.assessment" in only
        assert not any(k.startswith("temporal.") for k in only)
        # Actors are named, not only given by id.
        assert "by clinician of demo (clinician)" in text_of(history.text)


async def test_a_broken_audit_chain_is_shown_with_where_it_breaks(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident = await open_incident(stack, program)
    await detail(stack, program, incident["id"])  # reading it is an audit event
    async with transaction(sessions) as session:
        first = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.program_id) == program.program.id)
                .order_by(col(AuditEvent.seq))
            )
        ).first()
        assert first is not None
        first.detail = {**first.detail, "altered": True}
        seq = first.seq
    async with signed_in(stack, program, Role.SUPERVISOR) as browser:
        page = await browser.get("/supervise")
    assert page.status_code == 200
    assert 'data-audit-chain="broken"' in page.text
    assert f"Broken at event {seq}: content does not match its keyed hash" in text_of(page.text)


async def test_other_roles_and_unknown_incidents_get_not_found(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    for role in (Role.CLINICIAN, Role.FOLLOWUP, Role.ADMIN):
        async with signed_in(stack, program, role) as browser:
            assert (await browser.get("/supervise")).status_code == 404
            history = await browser.get(f"/supervise/incidents/{incident['id']}")
            assert history.status_code == 404
            assert "Not found" in history.text
    async with signed_in(stack, program, Role.SUPERVISOR) as browser:
        missing = await browser.get(f"/supervise/incidents/{uuid.uuid4()}")
        assert missing.status_code == 404
