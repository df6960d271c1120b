"""The FHIR export (SPEC 10.4): a walked overdose incident leaves CrisisDesk as one FHIR R4 Bundle
that the `fhir.resources` R4B models parse, that holds the resources 10.4 lists, and whose every
reference resolves inside it; a supervisor's audited read, nobody else's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import AuditEvent, Notification
from domain.vocabulary import Role
from tests.helpers.followup import projected
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.problems import assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack
from tests.workflows.scenarios import DISPATCH_911, JUDGED_MODERATE, OVERDOSE_IMMINENT, SAFETY_PLAN

MEDICAL_CONTACT = {
    "name": "Dr. Ines Park",
    "relationship": "primary care physician",
    "kind": "medical",
    "email": "ipark@clinic.example.org",
    "facility": "Eastside Clinic",
    "channels": ["email"],
    "priority": 1,
}
SISTER = {
    "name": "Lia Ruiz",
    "relationship": "sister",
    "kind": "personal",
    "email": "lia@example.org",
    "channels": ["email"],
    "priority": 2,
}
LISTED_TYPES = {
    "Patient",
    "Practitioner",
    "RelatedPerson",
    "Encounter",
    "QuestionnaireResponse",
    "Observation",
    "RiskAssessment",
    "Flag",
    "CarePlan",
    "Communication",
    "Task",
    "Consent",
    "Provenance",
}


async def _admin_post(
    stack: Stack, program: DemoProgram, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await stack.http.post(
        f"/v1/clients/{program.client.id}/{path}", json=body, headers=program.auth(Role.ADMIN)
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _delivered_to(
    sessions: async_sessionmaker[AsyncSession], incident_id: str, contact_ids: set[str]
) -> None:
    async def all_tried() -> bool:
        async with sessions() as session:
            rows = await session.exec(
                select(Notification.recipient_id).where(
                    Notification.incident_id == uuid.UUID(incident_id),
                    col(Notification.recipient_id).in_(contact_ids),
                )
            )
            return set(rows.all()) == contact_ids

    await eventually(all_tried, "a delivery attempt to each contact told")


async def walked_overdose(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    """An overdose walked through the JSON API: signs (imminent), 911 dispatched and arrived,
    the physician told under the medical emergency, the sister under her Part 2 consent, sent
    home with a safety plan; once its follow-up tasks and deliveries are in the case file."""
    medical = await _admin_post(stack, program, "contacts", MEDICAL_CONTACT)
    sister = await _admin_post(stack, program, "contacts", SISTER)
    consent = await _admin_post(
        stack, program, "consents", {"kind": "part2", "contact_id": sister["id"]}
    )
    incident = await open_incident(stack, program, crisis_type="overdose")
    incident_id = incident["id"]
    await decide(stack, program, incident_id, OVERDOSE_IMMINENT)
    dispatched = await decide(stack, program, incident_id, DISPATCH_911)
    [dispatch] = dispatched["dispatches"]
    update = {"kind": "dispatch_update", "dispatch_id": dispatch["dispatch_id"]}
    await decide(stack, program, incident_id, {**update, "status": "arrived"})
    await decide(
        stack,
        program,
        incident_id,
        {
            "kind": "notify_contacts",
            "contact_ids": [medical["id"]],
            "basis": "medical_emergency",
            "emergency_nature": "Suspected opioid overdose, slowed breathing",
        },
    )
    await decide(
        stack,
        program,
        incident_id,
        {"kind": "notify_contacts", "contact_ids": [sister["id"]], "basis": "consent"},
    )
    await decide(
        stack,
        program,
        incident_id,
        {"kind": "disposition", "outcome": "transported_er", "safety_plan": SAFETY_PLAN},
    )
    await projected(sessions, uuid.UUID(incident_id))
    await _delivered_to(sessions, incident_id, {medical["id"], sister["id"]})
    return {
        "incident": incident_id,
        "medical": medical["id"],
        "sister": sister["id"],
        "consent": consent["id"],
    }


def references(node: Any) -> Iterator[str]:
    """Every `reference` anywhere in a FHIR JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


async def export(stack: Stack, program: DemoProgram, incident_id: str) -> dict[str, Any]:
    response = await stack.http.get(
        f"/v1/incidents/{incident_id}/fhir", headers=program.auth(Role.SUPERVISOR)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle: dict[str, Any] = response.json()
    return bundle


async def test_a_walked_overdose_exports_as_a_bundle_the_r4b_models_parse(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ids = await walked_overdose(stack, program, sessions)
    bundle = await export(stack, program, ids["incident"])

    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    assert parsed.entry is not None
    assert {e.resource.get_resource_type() for e in parsed.entry} >= LISTED_TYPES
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    assert all(url.startswith("urn:uuid:") for url in full_urls)
    dangling = set(references(bundle)) - set(full_urls)
    assert not dangling

    [encounter] = by_type(bundle, "Encounter")
    assert encounter["class"]["code"] == "VR"
    assert encounter["reasonCode"][0]["coding"][0]["code"] == "overdose"
    assert encounter["status"] == "in-progress"
    [patient] = by_type(bundle, "Patient")
    assert patient["name"] == [{"family": "Ruiz", "given": ["Ana"]}]
    assert "telecom" not in patient and "address" not in patient  # the minimum necessary

    [form] = by_type(bundle, "QuestionnaireResponse")
    assert form["questionnaire"].endswith("/overdose_signs")
    risks = [o for o in by_type(bundle, "Observation") if o.get("valueCodeableConcept") is not None]
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in risks] == ["imminent"]
    [risk] = by_type(bundle, "RiskAssessment")
    assert risk["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "imminent"
    assert {b["reference"] for b in risk["basis"]} >= {f"urn:uuid:{form['id']}"}

    [flag] = by_type(bundle, "Flag")
    assert flag["status"] == "active"
    assert flag["category"][0]["coding"][0]["code"] == "behavioral"

    [plan] = by_type(bundle, "CarePlan")
    sections = [a["detail"]["code"]["coding"][0]["code"] for a in plan["activity"]]
    assert sections == list(SAFETY_PLAN)
    assert plan["activity"][0]["detail"]["description"] == "isolating; not sleeping"

    tasks = by_type(bundle, "Task")
    assert len(tasks) == 4
    assert {t["status"] for t in tasks} == {"requested"}
    assert all(
        t["basedOn"] == [{"reference": f"urn:uuid:{plan['id']}", "type": "CarePlan"}] for t in tasks
    )

    told = {
        c["recipient"][0]["reference"]: c
        for c in by_type(bundle, "Communication")
        if c.get("recipient") and c["recipient"][0]["type"] == "RelatedPerson"
    }
    physician = told[f"urn:uuid:{ids['medical']}"]
    assert physician["reasonCode"][0]["coding"][0]["code"] == "medical_emergency"
    assert "42 CFR 2.51" in physician["note"][0]["text"]
    assert told[f"urn:uuid:{ids['sister']}"]["reasonCode"][0]["coding"][0]["code"] == "consent"

    [consent] = by_type(bundle, "Consent")
    assert consent["id"] == ids["consent"]
    assert consent["status"] == "active"
    assert consent["provision"]["actor"][0]["reference"]["reference"] == (
        f"urn:uuid:{ids['sister']}"
    )

    exported_at = datetime.fromisoformat(bundle["timestamp"])
    for provenance in by_type(bundle, "Provenance"):
        assert datetime.fromisoformat(provenance["recorded"]) <= exported_at
    clinician = f"urn:uuid:{program.staff[Role.CLINICIAN].id}"
    recorded = {
        target["reference"]
        for p in by_type(bundle, "Provenance")
        if p["agent"][0]["who"]["reference"] == clinician
        for target in p["target"]
    }
    assert {f"urn:uuid:{form['id']}", f"urn:uuid:{plan['id']}"} <= recorded

    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.action == "incident.fhir_exported")
        )
        [audit] = rows.all()
    assert audit.actor_id == str(program.staff[Role.SUPERVISOR].id)
    assert audit.incident_id == uuid.UUID(ids["incident"])
    assert audit.program_id == program.program.id

    revoked = await stack.http.post(
        f"/v1/clients/{program.client.id}/consents/{ids['consent']}/revoke",
        json={"reason": "Client withdrew consent"},
        headers=program.auth(Role.ADMIN),
    )
    assert revoked.status_code == 200, revoked.text
    [consent] = by_type(await export(stack, program, ids["incident"]), "Consent")
    assert consent["status"] == "inactive"


async def test_a_moderate_risk_raises_no_flag(stack: Stack, program: DemoProgram) -> None:
    incident = await open_incident(stack, program, crisis_type="panic")
    await decide(stack, program, incident["id"], JUDGED_MODERATE)

    bundle = await export(stack, program, incident["id"])

    Bundle.model_validate(bundle)
    assert by_type(bundle, "Flag") == []
    [risk] = by_type(bundle, "RiskAssessment")
    assert risk["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "moderate"
    assert by_type(bundle, "CarePlan") == by_type(bundle, "Consent") == []
    assert not set(references(bundle)) - {e["fullUrl"] for e in bundle["entry"]}


async def test_only_a_supervisor_of_the_program_exports_and_not_under_break_glass(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident = await open_incident(stack, program)
    path = f"/v1/incidents/{incident['id']}/fhir"

    for role in (Role.CLINICIAN, Role.FOLLOWUP, Role.ADMIN):
        assert_problem(await stack.http.get(path, headers=program.auth(role)), 403)
    other = await make_program(sessions, "other")
    theirs = await stack.http.get(path, headers=other.auth(Role.SUPERVISOR))
    unknown = await stack.http.get(
        f"/v1/incidents/{uuid.uuid4()}/fhir", headers=other.auth(Role.SUPERVISOR)
    )
    assert_problem(theirs, 404)
    assert theirs.content == unknown.content
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.action == "incident.fhir_exported")
        )
        assert rows.all() == []

    glass = await stack.http.post(
        f"/v1/incidents/{incident['id']}/break-glass",
        json={"reason": "Their client is in our ER; need the crisis record"},
        headers=other.auth(Role.SUPERVISOR),
    )
    assert glass.status_code == 201, glass.text
    # A grant lets them read the incident, not take the whole record into another system.
    under_grant = await stack.http.get(path, headers=other.auth(Role.SUPERVISOR))
    assert under_grant.content == unknown.content
    assert (
        await stack.http.get(f"/v1/incidents/{incident['id']}", headers=other.auth(Role.SUPERVISOR))
    ).status_code == 200
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.action == "incident.fhir_exported")
        )
        assert rows.all() == []
