"""Opening incidents and recording decisions through the API, on the time-skipping server."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import EventType

from domain.models import DecisionRecord, Incident
from domain.models.clients import ClientCreate
from domain.vocabulary import Role
from infra.db import transaction
from infra.records import create_client
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack

CSSRS_HIGH = {
    "kind": "assessment",
    "instrument": "cssrs_screener",
    "answers": {
        "wish_dead": True,
        "suicidal_thoughts": True,
        "method": True,
        "intent": True,
        "plan": False,
        "behavior": False,
    },
    "notes": "Disclosed intent during group",
}


async def open_incident(stack: Stack, program: DemoProgram, **overrides: object) -> dict:
    body = {
        "client_id": str(program.client.id),
        "crisis_type": "suicidal_ideation",
        "summary": "Disclosed a plan during group session",
        "location": {"zip": "97201"},
        **overrides,
    }
    response = await stack.http.post(
        "/v1/incidents", json=body, headers=program.auth(Role.CLINICIAN)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_open_then_assess_moves_to_assessing_with_risk(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    assert incident["stage"] == "open"
    assert incident["risk_level"] is None
    assert incident["protocol_version"].startswith("suicidal_ideation/")
    assert incident["owner"] == str(program.staff[Role.CLINICIAN].id)

    response = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json=CSSRS_HIGH,
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "assessing"
    assert response.json()["risk_level"] == "high"

    detail = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.status_code == 200
    assert detail.json()["risk_level"] == "high"


async def update_events(stack: Stack, incident_id: str) -> int:
    handle = stack.client.get_workflow_handle(f"incident-{incident_id}")
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def decision_rows(sessions: async_sessionmaker[AsyncSession], incident_id: str) -> int:
    async with sessions() as session:
        rows = await session.exec(
            select(DecisionRecord).where(DecisionRecord.incident_id == uuid.UUID(incident_id))
        )
        return len(rows.all())


async def test_refused_decision_changes_nothing(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident = await open_incident(stack, program)
    accepted = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "note", "text": "Client joined from home"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert accepted.status_code == 200
    before_events = await update_events(stack, incident["id"])
    before_rows = await eventually(
        lambda: _rows_at_least(sessions, incident["id"], 1), "the note's decision row"
    )

    refusals = [
        # not allowed in stage `open`
        ({"kind": "disposition", "outcome": "admitted"}, Role.CLINICIAN, 409),
        # no dispatch yet: dispatch updates wait for the responding stage
        (
            {"kind": "dispatch_update", "dispatch_id": str(uuid.uuid4()), "status": "en_route"},
            Role.CLINICIAN,
            409,
        ),
        # an instrument the protocol does not use
        ({"kind": "assessment", "instrument": "cows", "scores": COWS_ZERO}, Role.CLINICIAN, 409),
        # supervisors close; clinicians may not
        ({"kind": "close", "reason": "done here"}, Role.CLINICIAN, 403),
    ]
    for body, role, expected in refusals:
        response = await stack.http.post(
            f"/v1/incidents/{incident['id']}/decisions", json=body, headers=program.auth(role)
        )
        assert response.status_code == expected, (body, response.text)
        problem = response.json()
        assert {"type", "title", "status", "detail"} <= set(problem)
    conflict = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "disposition", "outcome": "admitted"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert conflict.json()["stage"] == "open"
    assert "assessment" in conflict.json()["allowed"]
    assert "disposition" not in conflict.json()["allowed"]

    assert await update_events(stack, incident["id"]) == before_events
    assert await decision_rows(sessions, incident["id"]) == before_rows


async def _rows_at_least(
    sessions: async_sessionmaker[AsyncSession], incident_id: str, count: int
) -> int | None:
    rows = await decision_rows(sessions, incident_id)
    return rows if rows >= count else None


async def test_malformed_decisions_are_422_naming_the_field(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    cases = [
        ({"kind": "teleport"}, "kind"),
        ({"kind": "assessment", "instrument": "ciwa_ar", "scores": {"tremor": 9}}, "scores."),
        (
            {**CSSRS_HIGH, "risk_override": "imminent"},
            "justification",
        ),
        ({"kind": "deescalation", "techniques": [], "outcome": "resolved"}, "techniques"),
        ({"kind": "note", "text": "Called\u0000back"}, "text"),
    ]
    for body, field in cases:
        response = await stack.http.post(
            f"/v1/incidents/{incident['id']}/decisions",
            json=body,
            headers=program.auth(Role.CLINICIAN),
        )
        assert response.status_code == 422, response.text
        assert field in response.json()["detail"], response.json()


async def test_override_with_justification_sets_imminent(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    response = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={
            **CSSRS_HIGH,
            "risk_override": "imminent",
            "justification": "Means at hand, refuses to put them away",
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["risk_level"] == "imminent"
    assert state["assessments"][0]["computed_risk"] == "high"
    assert state["assessments"][0]["overridden"] is True
    assert state["required_steps"] == ["dispatch"]


async def test_same_idempotency_key_opens_one_incident(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = {
        "client_id": str(program.client.id),
        "crisis_type": "panic",
        "summary": "Panic attack that will not settle",
    }
    headers = {**program.auth(Role.CLINICIAN), "Idempotency-Key": "6f1c-panic-1"}
    first = await stack.http.post("/v1/incidents", json=body, headers=headers)
    second = await stack.http.post("/v1/incidents", json=body, headers=headers)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"

    different = await stack.http.post(
        "/v1/incidents", json={**body, "crisis_type": "psychosis"}, headers=headers
    )
    # SPEC 10.1: the same key with another body is 422 naming the header, never the earlier answer.
    assert different.status_code == 422
    assert different.json()["errors"][0]["field"] == "Idempotency-Key"

    async def one_row() -> int | None:
        async with sessions() as session:
            count = len((await session.exec(select(Incident))).all())
        return count if count else None

    assert await eventually(one_row, "the incident row") == 1


async def test_a_key_reused_for_another_client_never_answers_the_first_clients_incident(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessions) as session:
        other = await create_client(
            session,
            program_id=program.program.id,
            data=ClientCreate(first_name="Ben", last_name="Ode", phone="+15035550177"),
        )
    headers = {**program.auth(Role.CLINICIAN), "Idempotency-Key": "6f1c-shared-key"}
    body = {"crisis_type": "panic", "summary": "Panic attack that will not settle"}
    first = await stack.http.post(
        "/v1/incidents", json={**body, "client_id": str(program.client.id)}, headers=headers
    )
    assert first.status_code == 201

    reused = await stack.http.post(
        "/v1/incidents", json={**body, "client_id": str(other.id)}, headers=headers
    )

    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert first.json()["id"] not in reused.text


async def test_clinician_may_cancel_only_an_open_incident(
    stack: Stack, program: DemoProgram
) -> None:
    mistaken = await open_incident(stack, program)
    response = await stack.http.post(
        f"/v1/incidents/{mistaken['id']}/decisions",
        json={"kind": "cancel", "reason": "entered in error"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 200
    assert response.json()["stage"] == "cancelled"
    after = await stack.http.post(
        f"/v1/incidents/{mistaken['id']}/decisions",
        json={"kind": "note", "text": "too late"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert after.status_code in (404, 409)

    assessed = await open_incident(stack, program)
    await stack.http.post(
        f"/v1/incidents/{assessed['id']}/decisions",
        json=CSSRS_HIGH,
        headers=program.auth(Role.CLINICIAN),
    )
    refused = await stack.http.post(
        f"/v1/incidents/{assessed['id']}/decisions",
        json={"kind": "cancel", "reason": "entered in error"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_allowed_in_stage"
    assert "cancel" not in refused.json()["allowed"]
    assert "note" in refused.json()["allowed"]
    assert "close" not in refused.json()["allowed"]  # the supervisor's, not offered to her


async def test_history_merges_workflow_events_with_decisions_and_audit(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident = await open_incident(stack, program)
    state = (
        await stack.http.post(
            f"/v1/incidents/{incident['id']}/decisions",
            json=CSSRS_HIGH,
            headers=program.auth(Role.CLINICIAN),
        )
    ).json()
    await eventually(
        lambda: _rows_at_least(sessions, incident["id"], 1), "the assessment's decision row"
    )
    forbidden = await stack.http.get(
        f"/v1/incidents/{incident['id']}/history", headers=program.auth(Role.CLINICIAN)
    )
    assert forbidden.status_code == 403
    response = await stack.http.get(
        f"/v1/incidents/{incident['id']}/history", headers=program.auth(Role.SUPERVISOR)
    )
    assert response.status_code == 200
    events = response.json()["events"]
    types = [e["type"] for e in events]
    assert types.index("temporal.workflow_execution_started") < types.index(
        "temporal.workflow_execution_update_accepted"
    )
    assert "decision.assessment" in types
    assert "audit.decision.assessment" in types
    assert "audit.incident.opened" in types
    assessment = next(e for e in events if e["type"] == "decision.assessment")
    assert assessment["actor"] == str(program.staff[Role.CLINICIAN].id)
    assert assessment["detail"]["risk_level"] == state["risk_level"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


COWS_ZERO = {
    "resting_pulse": 0,
    "sweating": 0,
    "restlessness": 0,
    "pupil_size": 0,
    "bone_joint_aches": 0,
    "runny_nose_tearing": 0,
    "gi_upset": 0,
    "tremor": 0,
    "yawning": 0,
    "anxiety_irritability": 0,
    "gooseflesh": 0,
}


async def test_a_decision_sent_twice_with_one_idempotency_key_is_recorded_once(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    headers = {**program.auth(Role.CLINICIAN), "Idempotency-Key": "note-after-timeout-1"}
    path = f"/v1/incidents/{incident['id']}/decisions"
    body = {"kind": "note", "text": "Mother on the way"}
    first = await stack.http.post(path, json=body, headers=headers)
    again = await stack.http.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    notes = [d for d in again.json()["decisions"] if d["kind"] == "note"]
    assert len(notes) == 1
    other = await stack.http.post(
        path, json=body, headers={**headers, "Idempotency-Key": "note-after-timeout-2"}
    )
    assert len([d for d in other.json()["decisions"] if d["kind"] == "note"]) == 2


async def test_out_of_range_paging_is_422_not_a_server_error(
    stack: Stack, program: DemoProgram
) -> None:
    for path in ("/v1/incidents", "/v1/clients"):
        response = await stack.http.get(
            path, params={"offset": 10**19}, headers=program.auth(Role.CLINICIAN)
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "query.offset"


async def test_an_incident_whose_text_holds_a_nul_character_is_not_opened(
    stack: Stack, program: DemoProgram
) -> None:
    for body, field in [
        ({"summary": "Disclosed\u0000a plan"}, "summary"),
        ({"summary": "Disclosed a plan", "location": {"address": "1 Main St\u0000"}}, "address"),
    ]:
        response = await stack.http.post(
            "/v1/incidents",
            json={"client_id": str(program.client.id), "crisis_type": "panic", **body},
            headers=program.auth(Role.CLINICIAN),
        )
        assert response.status_code == 422, response.text
        assert field in response.json()["detail"], response.json()
    listed = await stack.http.get("/v1/incidents", headers=program.auth(Role.CLINICIAN))
    assert listed.json()["count"] == 0
