"""The poisoned-data drills' desk: one program's staff, clients and incidents, reached through
the real API, with the outside providers (aiosmtpd, the fake Twilio server) counting what
arrives and what they refused.

A `Desk` stands either on the drills' own processes (`crisisdesk worker` and `crisisdesk api`
on a Temporal dev server) or on the time-skipping server with a worker in-process, for drills
whose alarms, ack windows or 30 days would otherwise take wall-clock time: `desk.sleep()` moves
that server's clock and is refused on real processes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.models import DecisionRecord, Incident, Staff
from domain.models.programs import ProgramCreate, StaffCreate
from domain.vocabulary import Role
from infra.db import transaction
from infra.records import create_program, create_staff
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio


@dataclass(frozen=True)
class PoisonScale:
    """How many incidents each poisoned-data drill walks."""

    name: str
    refused_pages: int  # drill 1: overdue assessments while texts and one email are refused
    wrong_owners: int  # drill 2: decisions naming owners that cannot own the incident
    casefile: int  # drill 3: incidents beside the one the case file refuses
    left_30_days: int  # drill 4: incidents left 30 days with an alarm nobody answers
    refused_contacts: int  # drill 5: ladders whose every contact is refused for good
    readers: int  # supervisors' screens reading one incident's detail at the same moment


POISON_FULL = PoisonScale("full", 50, 20, 20, 5, 50, 50)
POISON_SHORT = PoisonScale("short", 8, 4, 6, 1, 6, 25)
# The drills' own checks read incident details a few at a time, as a handful of supervisors'
# screens would: a burst of reads is a drill of its own (test_concurrent_reads.py).
READS_AT_ONCE = 5

SLEEP_STEP = timedelta(days=1)

# Permanent refusals, as the providers send them.
UNSUBSCRIBED = 21610  # Twilio: the recipient texted STOP
INVALID_NUMBER = 21211  # Twilio: not a number anyone can reach
HARD_BOUNCE = 550  # SMTP: mailbox unavailable


@dataclass
class Desk:
    """A program of the deployment under drill, reached as its staff reach it."""

    http: httpx.AsyncClient
    tokens: dict[str, str]  # role -> bearer token
    sessions: async_sessionmaker[AsyncSession]
    temporal: Client
    smtp: SmtpSink
    twilio: FakeTwilio
    env: WorkflowEnvironment | None = None  # the time-skipping server, when the desk is on one

    # --- time -------------------------------------------------------------------------------

    async def sleep(self, duration: timedelta) -> None:
        """Move the time-skipping server's clock (timers fire; wall-clock time barely passes).
        A day at a time: one call to the server must answer within its RPC timeout, and a day
        of many incidents' timers and activities can take seconds."""
        assert self.env is not None, "this desk runs on real time: it cannot skip ahead"
        while duration > timedelta(0):
            step = min(duration, SLEEP_STEP)
            await self.env.sleep(step)
            duration -= step

    # --- the API, as staff use it -----------------------------------------------------------

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def post(self, path: str, body: dict[str, Any], role: str) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.auth(role))

    async def staff(self) -> list[dict[str, Any]]:
        answer = await self.http.get("/v1/staff", headers=self.auth("admin"))
        assert answer.status_code == 200, answer.text
        members: list[dict[str, Any]] = answer.json()["data"]
        return members

    async def member(self, role: str, *, on_call: bool | None = None) -> dict[str, Any]:
        """The first staff member of `role` (and on call, or not, when asked)."""
        return next(
            m
            for m in await self.staff()
            if m["role"] == role and m["active"] and (on_call is None or m["on_call"] is on_call)
        )

    async def hire(self, role: str, name: str, **fields: Any) -> dict[str, Any]:
        answer = await self.post("/v1/staff", {"name": name, "role": role, **fields}, "admin")
        assert answer.status_code == 201, answer.text
        hired: dict[str, Any] = answer.json()
        return hired

    async def foreign_clinician(self) -> str:
        """A clinician of another program (created as the CLI's admin would)."""
        async with transaction(self.sessions) as session:
            other = await create_program(
                session,
                data=ProgramCreate(slug=f"other-{uuid.uuid4().hex[:8]}", name="Another IOP"),
            )
            member, _ = await create_staff(
                session,
                program_id=other.id,
                data=StaffCreate(name="Dr. Elsewhere", role=Role.CLINICIAN, on_call=True),
            )
        return str(member.id)

    async def reach(self, staff_id: str, *, phone: str | None, email: str | None) -> None:
        """Give a staff member the phone and email pages reach them on (an admin's edit)."""
        async with transaction(self.sessions) as session:
            row = await session.get(Staff, UUID(staff_id))
            assert row is not None
            row.phone, row.email = phone, email

    async def add_client(self, number: int) -> str:
        answer = await self.post(
            "/v1/clients",
            {
                "first_name": "Drill",
                "last_name": f"Client {number}",
                "phone": f"+1503556{number:04d}",
                "zip": "97201",
            },
            "admin",
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def add_contact(self, client_id: str, priority: int, **fields: Any) -> str:
        body = {
            "name": f"Drill Contact {priority}",
            "relationship": "friend",
            "kind": "personal",
            "priority": priority,
            **fields,
        }
        answer = await self.post(f"/v1/clients/{client_id}/contacts", body, "admin")
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def open_incident(self, client_id: str, crisis_type: str = "panic") -> dict[str, Any]:
        answer = await self.post(
            "/v1/incidents",
            {
                "client_id": client_id,
                "crisis_type": crisis_type,
                "summary": "Drill: crisis during group session",
                "location": {"zip": "97201"},
            },
            "clinician",
        )
        assert answer.status_code == 201, answer.text
        opened: dict[str, Any] = answer.json()
        return opened

    async def decide(
        self, incident_id: str, body: dict[str, Any], role: str = "clinician"
    ) -> httpx.Response:
        return await self.post(f"/v1/incidents/{incident_id}/decisions", body, role)

    async def accepted(
        self, incident_id: str, body: dict[str, Any], role: str = "clinician"
    ) -> dict[str, Any]:
        answer = await self.decide(incident_id, body, role)
        assert answer.status_code == 200, f"{body['kind']}: {answer.status_code} {answer.text}"
        state: dict[str, Any] = answer.json()
        return state

    async def detail(self, incident_id: str) -> dict[str, Any]:
        answer = await self.http.get(
            f"/v1/incidents/{incident_id}", headers=self.auth("supervisor")
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def details(self, incident_ids: Iterable[str]) -> list[dict[str, Any]]:
        slots = asyncio.Semaphore(READS_AT_ONCE)

        async def read(incident_id: str) -> dict[str, Any]:
            async with slots:
                return await self.detail(incident_id)

        return list(await asyncio.gather(*(read(i) for i in incident_ids)))

    async def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        answer = await self.http.get(
            f"/v1/incidents/{incident_id}/history", headers=self.auth("supervisor")
        )
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        return events

    # --- what arrived at the providers ------------------------------------------------------

    def texts_to(self, phone: str, *, accepted: bool | None = None) -> int:
        return self._twilio_requests("message", phone, accepted)

    def calls_to(self, phone: str, *, accepted: bool | None = None) -> int:
        return self._twilio_requests("call", phone, accepted)

    def _twilio_requests(self, kind: str, phone: str, accepted: bool | None) -> int:
        taken = {r.sid for r in self.twilio.messages + self.twilio.calls}
        return sum(
            1
            for r in list(self.twilio.requests)
            if r.kind == kind
            and r.form.get("To") == phone
            and (accepted is None or (r.sid in taken) is accepted)
        )

    def emails_to(self, address: str, *about: str) -> int:
        """Messages the relay accepted for `address` whose text names everything in `about`
        (a page names its incident and its reason)."""
        return sum(
            1
            for m in list(self.smtp.messages)
            if str(m.get("To", "")).lower() == address.lower()
            and all(a in str(m.get_content()) for a in about)
        )

    def bounced(self, address: str) -> int:
        return self.smtp.refusals.count(address.lower())

    # --- the case file ----------------------------------------------------------------------

    async def unprojected(self, incident_ids: Iterable[str]) -> list[str]:
        """Incidents whose case file is behind the workflow: the row below the live revision,
        or a decision the workflow holds that has no row."""
        wrong = []
        for state in await self.details(incident_ids):
            async with self.sessions() as session:
                row = await session.get(Incident, UUID(state["id"]))
                rows = (
                    await session.exec(
                        select(DecisionRecord.id).where(
                            DecisionRecord.incident_id == UUID(state["id"])
                        )
                    )
                ).all()
            decisions = {d["decision_id"] for d in state["decisions"]}
            if row is None or row.revision != state["revision"]:
                stored = None if row is None else row.revision
                wrong.append(f"{state['id']}: row at {stored}, workflow at {state['revision']}")
            elif decisions - {str(r) for r in rows}:
                wrong.append(f"{state['id']}: {len(decisions - {str(r) for r in rows})} decisions")
        return wrong

    async def rows_of(self, incident_id: str) -> tuple[int | None, int]:
        """The incident row's revision (None: no row) and its count of decision rows."""
        async with self.sessions() as session:
            row = await session.get(Incident, UUID(incident_id))
            decisions = (
                await session.exec(
                    select(func.count())
                    .select_from(DecisionRecord)
                    .where(col(DecisionRecord.incident_id) == UUID(incident_id))
                )
            ).one()
        return (None if row is None else row.revision), int(decisions)

    # --- poison ------------------------------------------------------------------------------

    async def refuse_rows_of_client(self, client_id: str, *, from_first_row: bool) -> None:
        """A PostgreSQL trigger that refuses (SQLSTATE 23514, a check violation) every write of
        the client's incident rows and their decisions: a fact the database will never take.
        `from_first_row`: the incident's very first row too; otherwise only later revisions."""
        events = "INSERT OR UPDATE" if from_first_row else "UPDATE"
        client = UUID(client_id)
        statements = [
            "CREATE FUNCTION drill_refuse_incident() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'drill: refused' USING ERRCODE = '23514'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER drill_refuse_incident BEFORE {events} ON incident FOR EACH ROW "
            f"WHEN (NEW.client_id = '{client}') EXECUTE FUNCTION drill_refuse_incident()",
            "CREATE FUNCTION drill_refuse_decision() RETURNS trigger AS $$ BEGIN "
            "IF EXISTS (SELECT 1 FROM incident WHERE id = NEW.incident_id "
            "AND client_id = TG_ARGV[0]::uuid) THEN "
            "RAISE EXCEPTION 'drill: refused' USING ERRCODE = '23514'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER drill_refuse_decision BEFORE INSERT ON decision FOR EACH ROW "
            f"EXECUTE FUNCTION drill_refuse_decision('{client}')",
        ]
        async with transaction(self.sessions) as session:
            connection = await session.connection()
            assert connection.dialect.name == "postgresql"
            for statement in statements:
                await connection.execute(text(statement))

    async def fix_rows(self) -> None:
        """The data is fixed: the refusing triggers dropped."""
        async with transaction(self.sessions) as session:
            connection = await session.connection()
            for statement in (
                "DROP TRIGGER drill_refuse_incident ON incident",
                "DROP TRIGGER drill_refuse_decision ON decision",
                "DROP FUNCTION drill_refuse_incident()",
                "DROP FUNCTION drill_refuse_decision()",
            ):
                await connection.execute(text(statement))


async def settled(check: Callable[[], Awaitable[list[str]]], what: str, within: float = 60) -> None:
    """Poll `check` (it answers what is still wrong) until it answers nothing. Wall-clock
    polling: on the time-skipping server, the clock moves only in `Desk.sleep`."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        wrong = await check()
        if not wrong:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} after {within:.0f} s: {wrong[:10]} ({len(wrong)} in all)")
        await asyncio.sleep(0.1)


def new_address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}@example.org"
