"""SPEC 10.2's disclosure rules through the real API and workflow (time-skipping server): Part 2
scope by assessment and by program, the grounds of a threat basis, consents that are revoked or
already past, and `reclassify` (the new protocol's windows, Part 2 after `withdrawal`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.models import AuditEvent, Consent
from domain.models.clients import ConsentCreate
from domain.vocabulary import ConsentKind, Role
from infra.db import transaction
from infra.records import add_consent
from tests.helpers.incidents import decide, detail, open_incident, settled_row
from tests.helpers.polling import eventually
from tests.helpers.problems import assert_invalid, assert_problem
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CIWA_SEVERE

JUDGED_HIGH = {
    "kind": "assessment",
    "instrument": "clinical_judgement",
    "risk_override": "high",
    "justification": "Means at hand and refuses to put them away",
}
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
}


async def add_wife(stack: Stack, program: DemoProgram) -> str:
    response = await stack.http.post(
        f"/v1/clients/{program.client.id}/contacts",
        json={
            "name": "Rosa Ruiz",
            "relationship": "wife",
            "kind": "personal",
            "email": "rosa@example.org",
            "channels": ["email"],
            "priority": 1,
        },
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_consent_for(
    stack: Stack, program: DemoProgram, contact_id: str, kind: str
) -> dict[str, Any]:
    response = await stack.http.post(
        f"/v1/clients/{program.client.id}/consents",
        json={"kind": kind, "contact_id": contact_id, "expires_at": "2099-01-01T00:00:00Z"},
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def notify(
    stack: Stack, program: DemoProgram, incident_id: str, contact_id: str, **extra: Any
) -> Any:
    body = {"kind": "notify_contacts", "contact_ids": [contact_id], **extra}
    body.setdefault("basis", "serious_imminent_threat")
    return await stack.http.post(
        f"/v1/incidents/{incident_id}/decisions", json=body, headers=program.auth(Role.CLINICIAN)
    )


def assert_refused(response: Any, rule: str) -> dict[str, object]:
    problem = assert_problem(response, 409)
    assert problem["code"] == f"disclosure_refused:{rule}", problem
    return problem


async def sos_incident(stack: Stack, program: DemoProgram) -> str:
    device = await stack.http.post(
        f"/v1/clients/{program.client.id}/devices",
        json={"label": "phone"},
        headers=program.auth(Role.ADMIN),
    )
    assert device.status_code == 201, device.text
    pressed = await stack.http.post(
        "/v1/sos", headers={"Authorization": f"Bearer {device.json()['token']}"}
    )
    assert pressed.status_code == 201, pressed.text
    incident_id = str(pressed.json()["incident_id"])
    assert (await detail(stack, program, incident_id))["crisis_type"] == "other"
    return incident_id


# --- Part 2 scope ------------------------------------------------------------------------------


async def test_an_sos_client_assessed_with_ciwa_ar_needs_part2_consent_to_tell_his_wife(
    stack: Stack, program: DemoProgram
) -> None:
    """The issue's reproduction: `other` (SOS), CIWA-Ar at 26, his wife under a threat basis."""
    wife = await add_wife(stack, program)
    incident_id = await sos_incident(stack, program)
    assessed = await decide(stack, program, incident_id, CIWA_SEVERE)
    assert (assessed["risk_level"], assessed["crisis_type"]) == ("high", "other")

    refused = assert_refused(
        await notify(stack, program, incident_id, wife), "part2_written_consent_required"
    )
    assert "42 CFR Part 2" in str(refused["detail"])
    assert "Rosa" not in str(refused["detail"])
    assert (await detail(stack, program, incident_id))["ladders"] == []

    await add_consent_for(stack, program, wife, "contact_disclosure")
    assert_refused(
        await notify(stack, program, incident_id, wife), "part2_written_consent_required"
    )
    await add_consent_for(stack, program, wife, "part2")
    told = await notify(stack, program, incident_id, wife)
    assert told.status_code == 200, told.text
    assert [r for r in told.json()["ladders"][0]["recipient_ids"]] == [wife]


@pytest.mark.parametrize(
    ("crisis_type", "assessment"),
    [("other", JUDGED_HIGH), ("suicidal_ideation", CSSRS_HIGH)],
)
async def test_in_a_part2_program_family_needs_part2_consent_whatever_the_crisis_type(
    stack: Stack, program: DemoProgram, crisis_type: str, assessment: dict[str, Any]
) -> None:
    wife = await add_wife(stack, program)
    await add_consent_for(stack, program, wife, "contact_disclosure")
    before = await open_incident(stack, program, crisis_type)
    await decide(stack, program, before["id"], assessment)

    by_clinician = await stack.http.patch(
        "/v1/programs/me", json={"part2_program": True}, headers=program.auth(Role.CLINICIAN)
    )
    assert "clinician" in str(assert_problem(by_clinician, 403)["detail"])
    marked = await stack.http.patch(
        "/v1/programs/me", json={"part2_program": True}, headers=program.auth(Role.ADMIN)
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["part2_program"] is True
    shown = await stack.http.get("/v1/programs/me", headers=program.auth(Role.ADMIN))
    assert shown.json()["part2_program"] is True

    incident = await open_incident(stack, program, crisis_type)
    await decide(stack, program, incident["id"], assessment)
    assert_refused(
        await notify(stack, program, incident["id"], wife), "part2_written_consent_required"
    )
    # The program's flag covers the incidents it already had too.
    assert_refused(
        await notify(stack, program, before["id"], wife), "part2_written_consent_required"
    )
    await add_consent_for(stack, program, wife, "part2")
    told = await notify(stack, program, incident["id"], wife)
    assert told.status_code == 200, told.text


async def test_a_programs_part2_flag_rejects_an_unknown_field(
    stack: Stack, program: DemoProgram
) -> None:
    response = await stack.http.patch(
        "/v1/programs/me",
        json={"part2_program": True, "slug": "x"},
        headers=program.auth(Role.ADMIN),
    )
    assert_invalid(response, "slug")
    missing = await stack.http.patch("/v1/programs/me", json={}, headers=program.auth(Role.ADMIN))
    assert_invalid(missing, "part2_program")


# --- the grounds of a threat basis -------------------------------------------------------------


async def test_a_threat_basis_on_low_risk_needs_a_justification_and_keeps_it(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    wife = await add_wife(stack, program)
    incident = await open_incident(stack, program, "panic")
    unassessed = assert_refused(
        await notify(stack, program, incident["id"], wife), "grounds_not_recorded"
    )
    assert unassessed["field"] == "justification"
    assert "45 CFR 164.512(j)" in str(unassessed["detail"])
    low = await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "assessment",
            "instrument": "clinical_judgement",
            "risk_override": "low",
            "justification": "Settled after breathing exercises",
        },
    )
    assert low["risk_level"] == "low"
    assert_refused(
        await notify(stack, program, incident["id"], wife, basis="incapacity"),
        "grounds_not_recorded",
    )
    why = "Texted her sister a goodbye message an hour ago"
    told = await notify(stack, program, incident["id"], wife, justification=why)
    assert told.status_code == 200, told.text
    entry = told.json()["decisions"][-1]
    assert (entry["kind"], entry["documentation"]) == ("notify_contacts", {"justification": why})

    await settled_row(sessions, incident["id"], told.json()["revision"])
    history = await stack.http.get(
        f"/v1/incidents/{incident['id']}/history", headers=program.auth(Role.SUPERVISOR)
    )
    assert history.status_code == 200, history.text
    [recorded] = [e for e in history.json()["events"] if e["type"] == "decision.notify_contacts"]
    assert recorded["detail"]["documentation"] == {"justification": why}


# --- consents: revoked, and already past --------------------------------------------------------


async def test_a_revoked_consent_is_no_ground_and_its_revocation_is_recorded(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    wife = await add_wife(stack, program)
    consent = await add_consent_for(stack, program, wife, "contact_disclosure")
    revoke = f"/v1/clients/{program.client.id}/consents/{consent['id']}/revoke"

    no_reason = await stack.http.post(revoke, json={}, headers=program.auth(Role.CLINICIAN))
    assert_invalid(no_reason, "reason")
    by_followup = await stack.http.post(
        revoke, json={"reason": "client asked"}, headers=program.auth(Role.FOLLOWUP)
    )
    assert "followup" in str(assert_problem(by_followup, 403)["detail"])
    unknown = await stack.http.post(
        f"/v1/clients/{program.client.id}/consents/{UUID(int=7)}/revoke",
        json={"reason": "client asked"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert_problem(unknown, 404)

    revoked = await stack.http.post(
        revoke,
        json={"reason": "Client withdrew consent in session"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert revoked.status_code == 200, revoked.text
    ended = revoked.json()
    assert ended["revoked_at"] is not None
    assert ended["revoked_by"] == str(program.staff[Role.CLINICIAN].id)
    assert ended["revocation_reason"] == "Client withdrew consent in session"
    again = await stack.http.post(
        revoke, json={"reason": "twice"}, headers=program.auth(Role.ADMIN)
    )
    assert again.status_code == 200, again.text
    assert (again.json()["revoked_at"], again.json()["revocation_reason"]) == (
        ended["revoked_at"],
        "Client withdrew consent in session",
    )
    async with sessions() as session:
        audited = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "consent.revoked"))
        ).all()
    assert [(a.actor_id, a.detail["consent_id"]) for a in audited] == [
        (str(program.staff[Role.CLINICIAN].id), consent["id"])
    ]

    incident = await open_incident(stack, program, "panic")
    assert_refused(
        await notify(stack, program, incident["id"], wife, basis="consent"),
        "consent_not_on_file",
    )


async def test_a_consent_already_past_is_refused_and_one_expired_since_is_not_current(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    wife = await add_wife(stack, program)
    past = await stack.http.post(
        f"/v1/clients/{program.client.id}/consents",
        json={"kind": "part2", "contact_id": wife, "expires_at": "2020-01-01T00:00:00Z"},
        headers=program.auth(Role.ADMIN),
    )
    assert_invalid(past, "expires_at", status=409)
    async with sessions() as session:
        assert (await session.exec(select(Consent))).all() == []

    # Recorded while current; it expired a minute ago.
    async with transaction(sessions) as session:
        await add_consent(
            session,
            client=program.client,
            data=ConsentCreate(
                kind=ConsentKind.CONTACT_DISCLOSURE,
                contact_id=UUID(wife),
                expires_at=datetime.now(UTC) - timedelta(minutes=1),
            ),
            recorded_by=program.staff[Role.ADMIN].id,
        )
    incident = await open_incident(stack, program, "panic")
    assert_refused(
        await notify(stack, program, incident["id"], wife, basis="consent"),
        "consent_not_on_file",
    )


# --- reclassify --------------------------------------------------------------------------------


async def test_reclassify_applies_the_new_protocols_windows_from_that_moment(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    incident = await open_incident(stack, program, "other")
    opened_at = datetime.fromisoformat(incident["opened_at"])
    [timer] = (await detail(stack, program, incident["id"]))["pending_timers"]
    other_due = datetime.fromisoformat(timer["due_at"])
    assert abs(other_due - opened_at - timedelta(minutes=5)) < timedelta(seconds=1)

    by_followup = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "reclassify", "crisis_type": "overdose", "reason": "Airway signs"},
        headers=program.auth(Role.FOLLOWUP),
    )
    assert "followup" in str(assert_problem(by_followup, 403)["detail"])
    state = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "reclassify", "crisis_type": "overdose", "reason": "Found pills by the bed"},
    )
    assert (state["crisis_type"], state["protocol_version"]) == ("overdose", "overdose/2026-11.1")
    [timer] = state["pending_timers"]
    # The overdose protocol's 2 minutes (not other's 5), from when the incident opened.
    assert other_due - datetime.fromisoformat(timer["due_at"]) == timedelta(minutes=3)
    entry = state["decisions"][-1]
    assert entry["kind"] == "reclassify"
    assert entry["detail"]["from"] == "other"
    assert entry["documentation"] == {"reason": "Found pills by the bed"}
    assert "overdose_signs" not in str(
        (await stack.http.get("/v1/incidents", headers=program.auth(Role.CLINICIAN))).json()
    )

    await ts_env.sleep(timedelta(minutes=2, seconds=10))

    async def paged() -> dict[str, Any] | None:
        current = await detail(stack, program, incident["id"])
        timers = current["pending_timers"]
        return current if timers and timers[0]["pages_sent"] >= 1 else None

    # Paged at 2 minutes, not at the 5 of `other` (the wait above is under 5 minutes).
    await eventually(paged, "the overdose protocol's assessment page")
    row = await settled_row(sessions, incident["id"], state["revision"])
    assert (row.crisis_type, row.protocol_version) == ("overdose", "overdose/2026-11.1")
    listed = await stack.http.get(
        "/v1/incidents?crisis_type=overdose", headers=program.auth(Role.CLINICIAN)
    )
    assert [i["id"] for i in listed.json()["data"]] == [incident["id"]]


async def test_reclassify_is_refused_in_a_final_stage_and_to_the_same_type(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program, "panic")
    same = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "reclassify", "crisis_type": "panic", "reason": "Still panic"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert_invalid(same, "crisis_type", status=409)
    await decide(stack, program, incident["id"], {"kind": "cancel", "reason": "Wrong client"})
    final = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "reclassify", "crisis_type": "withdrawal", "reason": "Shaking"},
        headers=program.auth(Role.SUPERVISOR),
    )
    assert_problem(final, 409)
    assert (await detail(stack, program, incident["id"]))["crisis_type"] == "panic"


async def test_an_sos_incident_reclassified_to_withdrawal_is_part2_protected(
    stack: Stack, program: DemoProgram
) -> None:
    wife = await add_wife(stack, program)
    incident_id = await sos_incident(stack, program)
    why = "Says he will drive to the liquor store"
    reclassified = await decide(
        stack,
        program,
        incident_id,
        {"kind": "reclassify", "crisis_type": "withdrawal", "reason": "Tremor, sweating"},
        role=Role.SUPERVISOR,
    )
    assert reclassified["protocol_version"] == "withdrawal/2026-11.1"
    assert_refused(
        await notify(stack, program, incident_id, wife, justification=why),
        "part2_written_consent_required",
    )
    await add_consent_for(stack, program, wife, "part2")
    told = await notify(stack, program, incident_id, wife, justification=why)
    assert told.status_code == 200, told.text


async def test_an_overdose_reclassified_to_other_still_needs_part2_consent_to_tell_his_wife(
    stack: Stack, program: DemoProgram
) -> None:
    """Part 2 protection is sticky: reclassifying away from a substance-use type keeps it."""
    wife = await add_wife(stack, program)
    await add_consent_for(stack, program, wife, "contact_disclosure")
    incident = await open_incident(stack, program, "overdose")
    reclassified = await decide(
        stack,
        program,
        incident["id"],
        {"kind": "reclassify", "crisis_type": "other", "reason": "Not an overdose after all"},
    )
    assert reclassified["crisis_type"] == "other"
    why = "Says he will use again tonight"

    assert_refused(
        await notify(stack, program, incident["id"], wife, justification=why),
        "part2_written_consent_required",
    )
    assert (await detail(stack, program, incident["id"]))["ladders"] == []
    await add_consent_for(stack, program, wife, "part2")
    told = await notify(stack, program, incident["id"], wife, justification=why)
    assert told.status_code == 200, told.text
