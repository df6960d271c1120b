"""Every decision kind of the registry is driven through the HTTP API and reaches its
workflow Update (SPEC 10.1): a kind the API accepts but the workflow cannot take fails here."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.vocabulary import DecisionKind, Role
from tests.helpers.incidents import decide, open_incident
from tests.helpers.programs import DemoProgram, add_emailed_sister
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE, disposition


async def test_every_kind_reaches_its_workflow_update(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sister = await add_emailed_sister(sessions, program)
    supervisor = str(program.staff[Role.SUPERVISOR].id)
    incident = await open_incident(stack, program, "suicidal_ideation")
    walk: list[tuple[dict[str, Any], Role]] = [
        (
            {**CSSRS_MODERATE, "risk_override": "high", "justification": "Plan and means"},
            Role.CLINICIAN,
        ),
        (
            {"kind": "deescalation", "techniques": ["grounding"], "outcome": "partial"},
            Role.CLINICIAN,
        ),
        ({"kind": "note", "text": "Sister can come over"}, Role.CLINICIAN),
        (
            {"kind": "reclassify", "crisis_type": "self_harm", "reason": "Cut her forearm"},
            Role.CLINICIAN,
        ),
        ({"kind": "escalate", "reason": "Second opinion on the plan"}, Role.CLINICIAN),
        (
            {
                "kind": "notify_contacts",
                "contact_ids": [str(sister.id)],
                "basis": "serious_imminent_threat",
            },
            Role.CLINICIAN,
        ),
        (
            {"kind": "contact_reached", "contact_id": str(sister.id), "how": "She called us"},
            Role.CLINICIAN,
        ),
        ({"kind": "contact_lost", "channel": "video"}, Role.CLINICIAN),
        ({"kind": "contact_restored", "how": "Rejoined the video"}, Role.CLINICIAN),
        ({"kind": "dispatch", "service": "911", "reason": "Means at hand"}, Role.CLINICIAN),
    ]
    driven: list[str] = []
    state: dict[str, Any] = {}
    for body, role in walk:
        state = await decide(stack, program, incident["id"], body, role=role)
        driven.append(state["decisions"][-1]["kind"])
    dispatch_id = state["dispatches"][0]["dispatch_id"]
    for body, role in [
        (
            {"kind": "dispatch_update", "dispatch_id": dispatch_id, "status": "transported"},
            Role.CLINICIAN,
        ),
        (disposition(with_safety_plan=True), Role.CLINICIAN),
        ({"kind": "reassign", "owner_id": supervisor, "reason": "Taking over"}, Role.SUPERVISOR),
        ({"kind": "close", "reason": "Admitted; follow-up continues"}, Role.SUPERVISOR),
    ]:
        state = await decide(stack, program, incident["id"], body, role=role)
        driven.append(state["decisions"][-1]["kind"])
    entered_in_error = await open_incident(stack, program, "panic")
    cancelled = await decide(
        stack, program, entered_in_error["id"], {"kind": "cancel", "reason": "Wrong client"}
    )
    driven.append(cancelled["decisions"][-1]["kind"])

    assert sorted(driven) == sorted(DecisionKind)
    assert state["stage"] == "closed"
    assert cancelled["stage"] == "cancelled"


async def test_allowed_decisions_are_what_the_callers_role_may_record(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program, "panic")
    as_clinician = incident["allowed_decisions"]
    assert "close" not in as_clinician
    assert "reassign" not in as_clinician
    assert "assessment" in as_clinician
    response = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=program.auth(Role.SUPERVISOR)
    )
    as_supervisor = response.json()["allowed_decisions"]
    assert {"close", "reassign"} <= set(as_supervisor)
