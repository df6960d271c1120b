"""SPEC 10.1: one bad fact never silences the rest, and what protects the client is kept.

Wrong ids are refused at the edge, a case-file data error is shown and carries on, a dispatch
made first answers the requirement, a close keeps follow-ups and refuses while help is on its
way, documentation is kept, an Idempotency-Key is bound to its body. On the time-skipping server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.models import DecisionRecord, Program
from domain.models.programs import ProgramCreate, StaffCreate
from domain.vocabulary import Role
from infra.db import transaction
from infra.records import create_program, create_staff
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram, add_emailed_sister
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE, DISPATCH_911, JUDGED_MODERATE, disposition


async def post_decision(
    stack: Stack,
    program: DemoProgram,
    incident_id: str,
    body: dict[str, Any],
    role: Role = Role.CLINICIAN,
    **headers: str,
) -> Any:
    return await stack.http.post(
        f"/v1/incidents/{incident_id}/decisions",
        json=body,
        headers={**program.auth(role), **headers},
    )


# --- references are checked at the edge ---------------------------------------------------


async def test_reassign_to_anyone_but_an_active_clinician_of_the_program_is_refused(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessions) as session:
        other: Program = await create_program(
            session, data=ProgramCreate(slug="other", name="Other IOP")
        )
        foreign, _ = await create_staff(
            session, program_id=other.id, data=StaffCreate(name="Dr. F", role=Role.CLINICIAN)
        )
        gone, _ = await create_staff(
            session,
            program_id=program.program.id,
            data=StaffCreate(name="Dr. Gone", role=Role.CLINICIAN),
        )
        gone.active = False
    incident = await open_incident(stack, program, "panic")
    wrong = {
        "unknown": "6a0b8a52-3c2d-4c1e-9a59-0f2f7c2b8d11",
        "another program's": str(foreign.id),
        "a follow-up worker": str(program.staff[Role.FOLLOWUP].id),
        "an admin": str(program.staff[Role.ADMIN].id),
        "inactive": str(gone.id),
    }
    for kind in ("reassign", "escalate"):
        for what, owner_id in wrong.items():
            refused = await post_decision(
                stack,
                program,
                incident["id"],
                {"kind": kind, "owner_id": owner_id, "reason": "Handing over the case"},
                role=Role.SUPERVISOR,
            )
            # An id the program does not have is not found; a staff member who cannot own an
            # incident is a conflict: either way named, and nothing recorded.
            expected = 404 if what in ("unknown", "another program's") else 409
            assert refused.status_code == expected, (kind, what, refused.text)
            assert refused.json()["errors"][0]["field"] == "owner_id"

    # The incident keeps working: a real handover goes through and the new owner is paged.
    supervisor = str(program.staff[Role.SUPERVISOR].id)
    state = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "reassign", "owner_id": supervisor, "reason": "Taking it over myself"},
        role=Role.SUPERVISOR,
    )
    assert state["owner"] == supervisor
    state = await decide(stack, program, incident["id"], JUDGED_MODERATE)
    assert state["stage"] == "assessing"

    async def owner_paged() -> list[dict[str, Any]] | None:
        pages = (await detail(stack, program, incident["id"]))["pages"]
        return [p for p in pages if p["reason"] == "an incident was reassigned to you"] or None

    paged = await eventually(owner_paged, "the new owner paged")
    assert paged[0]["target"] == "staff"


# --- documentation is kept ----------------------------------------------------------------


async def test_what_the_clinician_wrote_is_kept_and_shown_to_clinical_roles(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            **CSSRS_MODERATE,
            "risk_override": "high",
            "justification": "Means at hand, refuses to put them away",
            "notes": "Client tearful, agreed to stay on the call",
        },
    )
    await decide(stack, program, incident["id"], {"kind": "note", "text": "Sister is on her way"})
    state = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "escalate", "reason": "Second opinion on the risk level"},
    )
    written = {d["kind"]: d["documentation"] for d in state["decisions"]}
    assert written["assessment"] == {
        "justification": "Means at hand, refuses to put them away",
        "notes": "Client tearful, agreed to stay on the call",
    }
    assert written["note"] == {"text": "Sister is on her way"}
    assert written["escalate"] == {"reason": "Second opinion on the risk level"}

    async def recorded() -> list[DecisionRecord] | None:
        async with sessions() as session:
            rows = (
                await session.exec(
                    select(DecisionRecord).where(DecisionRecord.incident_id == UUID(incident["id"]))
                )
            ).all()
        return list(rows) if len(rows) == 3 else None

    rows = await eventually(recorded, "three decisions in the case file")
    assert {r.kind: r.detail["documentation"] for r in rows} == written
    history = await stack.http.get(
        f"/v1/incidents/{incident['id']}/history", headers=program.auth(Role.SUPERVISOR)
    )
    note = next(e for e in history.json()["events"] if e["type"] == "decision.note")
    assert note["detail"]["documentation"] == {"text": "Sister is on her way"}


# --- dispatch first is fine ---------------------------------------------------------------


async def test_overdose_walk_dispatch_first_then_assessment_transported_and_disposition(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await open_incident(stack, program, "overdose")
    state = await decide(stack, program, incident["id"], DISPATCH_911)
    dispatch_id = state["dispatches"][0]["dispatch_id"]
    state = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "assessment", "instrument": "overdose_signs", "signs": ["unresponsive"]},
    )
    assert state["risk_level"] == "imminent"
    assert state["required_steps"] == []  # the 911 call already answers it
    for status in ("en_route", "transported"):
        state = await decide(
            stack,
            program,
            incident["id"],
            {"kind": "dispatch_update", "dispatch_id": dispatch_id, "status": status},
        )
    assert state["required_steps"] == []
    assert "dispatch_overdue" not in [t["name"] for t in state["pending_timers"]]
    await ts_env.sleep(timedelta(minutes=30))
    quiet = await detail(stack, program, incident["id"])
    assert [p for p in quiet["pages"] if "dispatch" in p["reason"]] == []
    state = await decide(
        stack, program, incident["id"], {"kind": "disposition", "outcome": "transported_er"}
    )
    assert state["stage"] == "stabilized"


# --- closing keeps what protects the client ------------------------------------------------


async def test_close_is_refused_while_help_is_on_its_way_unless_forced(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program, "overdose")
    state = await decide(stack, program, incident["id"], DISPATCH_911)
    close = {"kind": "close", "reason": "Family says he is fine"}
    refused = await post_decision(stack, program, incident["id"], close, role=Role.SUPERVISOR)
    assert refused.status_code == 409
    assert refused.json()["code"] == "dispatch_under_way"
    dispatch_id = state["dispatches"][0]["dispatch_id"]
    await decide(
        stack,
        program,
        incident["id"],
        {"kind": "dispatch_update", "dispatch_id": dispatch_id, "status": "en_route"},
    )
    refused = await post_decision(stack, program, incident["id"], close, role=Role.SUPERVISOR)
    assert refused.status_code == 409
    forced = await decide(
        stack,
        program,
        incident["id"],
        {**close, "force": True, "reason": "Duplicate of the incident opened by the ER"},
        role=Role.SUPERVISOR,
    )
    assert forced["stage"] == "closed"


async def followup_incident(stack: Stack, program: DemoProgram) -> dict[str, Any]:
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(stack, program, incident["id"], CSSRS_MODERATE)

    async def in_follow_up() -> dict[str, Any] | None:
        state = await detail(stack, program, incident["id"])
        return state if state["stage"] == "follow_up" else None

    await decide(stack, program, incident["id"], disposition(with_safety_plan=True))
    return await eventually(in_follow_up, "the follow-up started")


async def task_statuses(stack: Stack, program: DemoProgram, incident_id: str) -> list[str]:
    response = await stack.http.get("/v1/tasks", headers=program.auth(Role.SUPERVISOR))
    assert response.status_code == 200, response.text
    return [t["status"] for t in response.json()["data"] if t["incident_id"] == incident_id]


async def test_closing_in_follow_up_keeps_the_follow_up_tasks(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await followup_incident(stack, program)
    closed = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "close", "reason": "Clinical work done; check-ins continue"},
        role=Role.SUPERVISOR,
    )
    assert closed["stage"] == "closed"
    assert closed["stopped_by_close"] == []
    await ts_env.sleep(timedelta(hours=1))
    statuses = await task_statuses(stack, program, incident["id"])
    assert len(statuses) == 4
    assert set(statuses) == {"requested"}


async def test_closing_with_cancel_followup_stops_them_and_says_so(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await followup_incident(stack, program)
    closed = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "close", "reason": "Client moved to another program", "cancel_followup": True},
        role=Role.SUPERVISOR,
    )
    assert closed["stopped_by_close"] == ["follow-up tasks"]

    async def cancelled() -> list[str] | None:
        statuses = await task_statuses(stack, program, incident["id"])
        return statuses if statuses and set(statuses) == {"cancelled"} else None

    await eventually(cancelled, "the follow-up tasks cancelled")


# --- idempotency keys are bound to their request -------------------------------------------


async def test_an_idempotency_key_reused_with_another_body_is_422(
    stack: Stack, program: DemoProgram
) -> None:
    key = {"Idempotency-Key": "open-7781"}
    body = {
        "client_id": str(program.client.id),
        "crisis_type": "panic",
        "summary": "Panic attack in group",
        "location": {"zip": "97201"},
    }
    first = await stack.http.post(
        "/v1/incidents", json=body, headers={**program.auth(Role.CLINICIAN), **key}
    )
    assert first.status_code == 201
    again = await stack.http.post(
        "/v1/incidents", json=body, headers={**program.auth(Role.CLINICIAN), **key}
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    changed = await stack.http.post(
        "/v1/incidents",
        json={**body, "summary": "Another client entirely"},
        headers={**program.auth(Role.CLINICIAN), **key},
    )
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"

    incident_id = first.json()["id"]
    note_key = {"Idempotency-Key": "note-1"}
    note = {"kind": "note", "text": "Breathing with her now"}
    recorded = await post_decision(stack, program, incident_id, note, **note_key)
    repeated = await post_decision(stack, program, incident_id, note, **note_key)
    assert recorded.status_code == repeated.status_code == 200
    assert len(repeated.json()["decisions"]) == 1
    other = await post_decision(
        stack, program, incident_id, {"kind": "note", "text": "Something else"}, **note_key
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    state = await detail(stack, program, incident_id)
    assert [d["documentation"] for d in state["decisions"]] == [{"text": "Breathing with her now"}]


# --- contact_reached works ------------------------------------------------------------------


async def test_contact_reached_is_offered_and_recorded(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    contact = await add_emailed_sister(sessions, program)
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {**CSSRS_MODERATE, "risk_override": "high", "justification": "Plan disclosed"},
    )
    state = await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [str(contact.id)],
            "basis": "serious_imminent_threat",
        },
    )
    assert "contact_reached" in state["allowed_decisions"]
    state = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "contact_reached", "contact_id": str(contact.id), "how": "She called the line"},
    )
    assert state["ladders"][0]["acknowledged_by"] == str(contact.id)
    assert state["ladders"][0]["acknowledged_via"] == "clinician"
    assert state["decisions"][-1]["documentation"] == {"how": "She called the line"}


# --- a case-file data error never blocks ------------------------------------------------------


async def test_a_case_file_data_error_is_shown_paged_once_and_recovers(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    poisoned = await open_incident(stack, program, "suicidal_ideation")
    healthy = await open_incident(stack, program, "panic")
    await refuse_decisions_of(sessions, poisoned["id"])
    await decide(stack, program, poisoned["id"], {"kind": "note", "text": "First note"})
    await decide(stack, program, poisoned["id"], {"kind": "note", "text": "Second note"})

    async def flagged() -> dict[str, Any] | None:
        state = await detail(stack, program, poisoned["id"])
        return state if state["projection_error"] else None

    state = await eventually(flagged, "projection_error on the incident")
    assert "ProjectionDataError" in state["projection_error"]
    # The other incident is untouched.
    await decide(stack, program, healthy["id"], JUDGED_MODERATE)
    assert await decision_rows(sessions, healthy["id"]) == 1
    # Its alarms still run: nobody assessed it, so the supervisor is paged on time.
    await ts_env.sleep(timedelta(minutes=6))
    pages = (await detail(stack, program, poisoned["id"]))["pages"]
    reasons = [p["reason"] for p in pages]
    assert "no assessment within the protocol's window" in reasons
    assert sum("case file" in r for r in reasons) == 1  # paged once, not per revision

    await allow_decisions(sessions)
    await ts_env.sleep(timedelta(hours=1))  # the workflow tries again on its own (backoff)

    async def recovered() -> dict[str, Any] | None:
        state = await detail(stack, program, poisoned["id"])
        return state if state["projection_error"] is None else None

    await eventually(recovered, "the case file written again")
    assert await decision_rows(sessions, poisoned["id"]) == 2


async def decision_rows(sessions: async_sessionmaker[AsyncSession], incident_id: str) -> int:
    async def written() -> int | None:
        async with sessions() as session:
            rows = (
                await session.exec(
                    select(DecisionRecord).where(DecisionRecord.incident_id == UUID(incident_id))
                )
            ).all()
        return len(rows) or None

    return await eventually(written, "decisions in the case file")


async def refuse_decisions_of(sessions: async_sessionmaker[AsyncSession], incident_id: str) -> None:
    """A database that refuses one incident's decisions (a check the data breaks)."""
    async with transaction(sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.exec(
                text(
                    "CREATE FUNCTION refuse_decision() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END $$ LANGUAGE plpgsql"
                )
            )
            await session.exec(
                text(
                    "CREATE TRIGGER refuse_decision BEFORE INSERT ON decision FOR EACH ROW "
                    f"WHEN (NEW.incident_id = '{incident_id}') EXECUTE FUNCTION refuse_decision()"
                )
            )
        else:
            hex_id = UUID(incident_id).hex
            await session.exec(
                text(
                    "CREATE TRIGGER refuse_decision BEFORE INSERT ON decision "
                    f"WHEN NEW.incident_id = '{hex_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


async def allow_decisions(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.exec(text("DROP TRIGGER refuse_decision ON decision"))
        else:
            await session.exec(text("DROP TRIGGER refuse_decision"))
