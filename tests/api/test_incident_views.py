"""What a clinician sees of an incident agrees wherever it is shown (issue 15): the decisions
offered are the ones the caller's role may record, the answer to a decision shows the same
deliveries and tasks as the detail, filters filter, the history names people, and refusals read
as sentences (no Python enum reprs, "an admin", the values allowed)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models.clients import ClientCreate
from domain.vocabulary import DecisionKind, Role
from infra.db import transaction
from infra.records import create_client
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.polling import eventually
from tests.helpers.problems import assert_invalid, assert_problem
from tests.helpers.programs import DemoProgram, add_emailed_sister
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE, disposition


def _body_for(kind: DecisionKind, supervisor_id: str) -> dict[str, Any]:
    """A body of each kind the API parses (ids the incident does not know are refused later,
    by the workflow, never as a role's 403)."""
    unknown = str(uuid.uuid4())
    bodies: dict[DecisionKind, dict[str, Any]] = {
        DecisionKind.ASSESSMENT: CSSRS_MODERATE,
        DecisionKind.DEESCALATION: {"techniques": ["grounding"], "outcome": "partial"},
        DecisionKind.NOTIFY_CONTACTS: {"contact_ids": [unknown], "basis": "consent"},
        DecisionKind.DISPATCH: {"service": "988", "reason": "Needs a counselor"},
        DecisionKind.DISPATCH_UPDATE: {"dispatch_id": unknown, "status": "arrived"},
        DecisionKind.DISPOSITION: disposition(with_safety_plan=True),
        DecisionKind.CONTACT_LOST: {"channel": "video"},
        DecisionKind.CONTACT_RESTORED: {"how": "Rejoined the video"},
        DecisionKind.CONTACT_REACHED: {"contact_id": unknown, "how": "She called us"},
        DecisionKind.NOTE: {"text": "Checking in"},
        DecisionKind.REASSIGN: {"owner_id": supervisor_id, "reason": "Taking over"},
        DecisionKind.ESCALATE: {"reason": "Second opinion"},
        DecisionKind.CLOSE: {"reason": "Resolved on the call", "force": True},
        DecisionKind.CANCEL: {"reason": "Entered in error"},
        DecisionKind.RECLASSIFY: {"crisis_type": "self_harm", "reason": "Cut her forearm"},
    }
    return {"kind": kind, **bodies[kind]}


async def test_every_decision_offered_to_a_role_is_one_it_may_record(
    stack: Stack, program: DemoProgram
) -> None:
    supervisor_id = str(program.staff[Role.SUPERVISOR].id)
    for role in (Role.CLINICIAN, Role.SUPERVISOR):
        for crisis_type in ("panic", "suicidal_ideation"):
            incident = await open_incident(stack, program, crisis_type)
            if crisis_type == "suicidal_ideation":  # a later stage offers other kinds
                await decide(stack, program, incident["id"], CSSRS_MODERATE)
            offered = (
                await stack.http.get(f"/v1/incidents/{incident['id']}", headers=program.auth(role))
            ).json()["allowed_decisions"]
            assert offered
            for kind in offered:
                response = await stack.http.post(
                    f"/v1/incidents/{incident['id']}/decisions",
                    json=_body_for(DecisionKind(kind), supervisor_id),
                    headers=program.auth(role),
                )
                assert response.status_code != 403, (role, kind, response.text)


async def test_a_refusal_lists_only_the_decisions_the_callers_role_may_record(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    await decide(stack, program, incident["id"], {"kind": "note", "text": "Joined from home"})
    await decide(stack, program, incident["id"], CSSRS_MODERATE)
    for role, supervisors_only in ((Role.CLINICIAN, False), (Role.SUPERVISOR, True)):
        refused = await stack.http.post(
            f"/v1/incidents/{incident['id']}/decisions",
            json={"kind": "cancel", "reason": "Entered in error"},
            headers=program.auth(role),
        )
        assert_problem(refused, 409)
        allowed = set(refused.json()["allowed"])
        assert "note" in allowed
        assert ({"close", "reassign"} <= allowed) is supervisors_only, (role, allowed)


async def test_the_answer_to_a_decision_shows_the_deliveries_and_tasks_the_detail_shows(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sister = await add_emailed_sister(sessions, program)
    incident = await open_incident(stack, program)
    high = {**CSSRS_MODERATE, "risk_override": "high", "justification": "Plan and means"}
    await decide(stack, program, incident["id"], high)
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [str(sister.id)],
            "basis": "serious_imminent_threat",
        },
    )
    await decide(stack, program, incident["id"], disposition(with_safety_plan=True))

    async def delivered_and_scheduled() -> dict[str, Any] | None:
        shown = await detail(stack, program, incident["id"])
        return shown if shown["notifications"] and shown["tasks"] else None

    shown = await eventually(delivered_and_scheduled, "a delivery attempt and follow-up tasks")
    answer = await decide(stack, program, incident["id"], {"kind": "note", "text": "Sister called"})
    assert answer["tasks"] == shown["tasks"]
    assert {n["id"] for n in shown["notifications"]} <= {n["id"] for n in answer["notifications"]}
    assert any(n["recipient_id"] == str(sister.id) for n in answer["notifications"])


async def test_incidents_are_listed_for_one_client_when_asked(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessions) as session:
        other = await create_client(
            session,
            program_id=program.program.id,
            data=ClientCreate(first_name="Bo", last_name="Lee", phone="+15035550109"),
        )
    theirs = await open_incident(stack, program, "panic", client_id=str(other.id))
    ours = await open_incident(stack, program, "panic")
    clinician = program.auth(Role.CLINICIAN)

    async def listed(client_id: str) -> list[str] | None:
        response = await stack.http.get(
            "/v1/incidents", params={"client_id": client_id}, headers=clinician
        )
        assert response.status_code == 200, response.text
        ids = [i["id"] for i in response.json()["data"]]
        return ids or None

    assert await eventually(lambda: listed(str(other.id)), "the other client's incident") == [
        theirs["id"]
    ]
    assert await eventually(lambda: listed(str(program.client.id)), "our incident") == [ours["id"]]
    board = await stack.http.get("/v1/incidents", headers=clinician)
    row = next(i for i in board.json()["data"] if i["id"] == ours["id"])
    shown = await detail(stack, program, ours["id"])
    assert row["next_timer"] == shown["pending_timers"][0]  # the board counts down the same timer
    assert row["unreachable"] == 0
    assert_invalid(
        await stack.http.get("/v1/incidents", params={"client_id": "nobody"}, headers=clinician),
        "client_id",
    )


async def test_the_history_names_each_staff_actor(stack: Stack, program: DemoProgram) -> None:
    incident = await open_incident(stack, program)
    await decide(stack, program, incident["id"], CSSRS_MODERATE)
    clinician = program.staff[Role.CLINICIAN]

    async def named_decision() -> dict[str, Any] | None:
        response = await stack.http.get(
            f"/v1/incidents/{incident['id']}/history", headers=program.auth(Role.SUPERVISOR)
        )
        events = response.json()["events"]
        return next((e for e in events if e["type"] == "decision.assessment"), None)

    event = await eventually(named_decision, "the assessment in the history")
    assert event["actor"] == str(clinician.id)
    assert (event["actor_name"], event["actor_role"]) == (clinician.name, "clinician")
    response = await stack.http.get(
        f"/v1/incidents/{incident['id']}/history", headers=program.auth(Role.SUPERVISOR)
    )
    opened = next(e for e in response.json()["events"] if e["type"] == "audit.incident.opened")
    assert opened["actor_name"] == clinician.name


async def test_refusals_read_as_sentences_that_name_the_allowed_values(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    wrong_status = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "dispatch_update", "dispatch_id": str(uuid.uuid4()), "status": "requested"},
        headers=program.auth(Role.CLINICIAN),
    )
    problem = assert_invalid(wrong_status, "status")
    assert "<" not in str(problem["detail"]) and "DispatchStatus" not in wrong_status.text
    for value in ("en_route", "arrived", "transported", "cancelled"):
        assert value in str(problem["detail"])

    as_admin = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=program.auth(Role.ADMIN)
    )
    assert assert_problem(as_admin, 403)["detail"] == (
        "an admin may not do this; it needs a clinician or a supervisor"
    )
    closing = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "close", "reason": "Resolved on the call"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert assert_problem(closing, 403)["detail"] == "a clinician may not record close"
