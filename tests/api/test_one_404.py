"""One 404 (SPEC 10.2): another program's incident, client, task or resource answers exactly the
bytes an id that does not exist answers, on every route that names a record in its path.

The routes are read from the app itself, so a route added later is walked too: a path id this
test cannot fill, or a route no role of the program reaches a 404 on, fails here until it is
taught (a body in BODIES, a record in `away_ids`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import FollowUpTask
from domain.vocabulary import Role
from tests.helpers.followup import TO_FOLLOWUP
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack

CONTACT = {
    "name": "Lia Ruiz",
    "relationship": "sister",
    "kind": "personal",
    "email": "lia@example.org",
    "channels": ["email"],
    "priority": 1,
}
RESOURCE = {
    "name": "Unity Center",
    "kind": "crisis_center",
    "phone": "+15039443900",
    "lat": 45.53,
    "lon": -122.66,
}
# A valid body per route that needs one: the lookup, not the body's validation, must answer.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/tasks/{task_id}/complete"): {"outcome": "reached_safe", "notes": "Safe"},
    ("POST", "/v1/clients/{client_id}/contacts"): CONTACT,
    ("POST", "/v1/clients/{client_id}/consents"): {"kind": "contact_disclosure"},
    ("POST", "/v1/clients/{client_id}/devices"): {"label": "phone"},
    ("POST", "/v1/clients/{client_id}/consents/{consent_id}/revoke"): {"reason": "Withdrawn"},
}
DECISIONS = "/v1/incidents/{incident_id}/decisions"


def decision_bodies(home: DemoProgram, theirs: dict[str, str]) -> list[dict[str, Any]]:
    """A body of every kind that names another record too (its ids the other program's where
    the caller could not know them otherwise): the incident is looked up all the same."""
    return [
        {"kind": "note", "text": "not yours"},
        {"kind": "assessment", "instrument": "overdose_signs", "signs": ["slow_breathing"]},
        {"kind": "deescalation", "techniques": ["grounding"], "outcome": "failed"},
        {
            "kind": "notify_contacts",
            "contact_ids": [theirs["contact_id"]],
            "basis": "serious_imminent_threat",
        },
        {"kind": "contact_reached", "contact_id": theirs["contact_id"], "how": "Called"},
        {"kind": "contact_lost", "channel": "video"},
        {"kind": "contact_restored", "how": "Called back"},
        {"kind": "dispatch", "service": "911", "reason": "Not yours"},
        {"kind": "dispatch_update", "dispatch_id": str(uuid.uuid4()), "status": "en_route"},
        {"kind": "disposition", "outcome": "declined_services"},
        {
            "kind": "reassign",
            "owner_id": str(home.staff[Role.SUPERVISOR].id),
            "reason": "Not yours",
        },
        {"kind": "escalate", "reason": "Not yours"},
        {"kind": "close", "reason": "Not yours"},
        {"kind": "cancel", "reason": "Not yours"},
    ]


# The one route meant to reach another program's incident: break-glass grants a supervisor of
# another program its detail and history (tests/api/test_break_glass.py).
ACROSS_PROGRAMS = {("POST", "/v1/incidents/{incident_id}/break-glass")}


async def posted(http: httpx.AsyncClient, path: str, headers: dict[str, str], body: Any) -> Any:
    response = await http.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


async def away_ids(
    stack: Stack, away: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> dict[str, str]:
    """A record of each kind in the other program, made through the API."""
    http, admin, clinician = stack.http, away.auth(Role.ADMIN), away.auth(Role.CLINICIAN)
    client_path = f"/v1/clients/{away.client.id}"
    contact = await posted(http, f"{client_path}/contacts", admin, CONTACT)
    consent = await posted(
        http,
        f"{client_path}/consents",
        admin,
        {"kind": "contact_disclosure", "contact_id": contact["id"]},
    )
    device = await posted(http, f"{client_path}/devices", admin, {"label": "tablet"})
    resource = await posted(http, "/v1/resources", admin, RESOURCE)
    incident = await posted(
        http,
        "/v1/incidents",
        clinician,
        {
            "client_id": str(away.client.id),
            "crisis_type": "panic",
            "summary": "Panic attack during group",
            "location": {"zip": "97201"},
        },
    )
    for body in TO_FOLLOWUP:
        await posted(http, f"/v1/incidents/{incident['id']}/decisions", clinician, body)

    async def task() -> FollowUpTask | None:
        async with sessions() as session:
            return (
                await session.exec(
                    select(FollowUpTask)
                    .where(FollowUpTask.incident_id == uuid.UUID(incident["id"]))
                    .order_by(col(FollowUpTask.sequence))
                )
            ).first()

    followup = await eventually(task, "the other program's follow-up task")
    return {
        "incident_id": incident["id"],
        "client_id": str(away.client.id),
        "task_id": str(followup.id),
        "resource_id": resource["id"],
        "staff_id": str(away.staff[Role.CLINICIAN].id),
        "device_id": device["id"],
        "consent_id": consent["id"],
        "contact_id": contact["id"],
    }


def routes_naming_a_record(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation of the app's OpenAPI document whose path names a record by its id."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if re.search(r"\{\w+_id\}", path)
        for method in sorted(operations)
    ]


async def test_another_programs_record_answers_the_bytes_of_an_unknown_id_on_every_route(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    away = await make_program(sessions, "away")
    theirs = await away_ids(stack, away, sessions)
    app: FastAPI = stack.http._transport.app  # type: ignore[attr-defined]
    routes = routes_naming_a_record(app)
    assert ("GET", "/v1/incidents/{incident_id}") in routes
    assert ("POST", "/v1/tasks/{task_id}/claim") in routes

    walked = []
    for method, template in routes:
        if (method, template) in ACROSS_PROGRAMS:
            continue
        names = re.findall(r"\{(\w+)\}", template)
        assert all(name in theirs for name in names), f"teach this test the records of {template}"
        unknown = template.format(**{name: uuid.uuid4() for name in names})
        foreign = template.format(**{name: theirs[name] for name in names})
        bodies = (
            decision_bodies(program, theirs)
            if template == DECISIONS
            else [BODIES.get((method, template))]
        )
        reached = False
        for role, body in ((role, body) for role in Role for body in bodies):
            headers = program.auth(role)
            missing = await stack.http.request(method, unknown, json=body, headers=headers)
            if missing.status_code == 403:
                continue
            assert missing.status_code == 404, (method, template, role, body, missing.text)
            other = await stack.http.request(method, foreign, json=body, headers=headers)
            assert other.status_code == 404, (method, template, role, body, other.text)
            assert other.content == missing.content, (method, template, role, body)
            assert other.headers["content-type"] == missing.headers["content-type"]
            assert theirs[names[0]] not in other.text
            reached = True
        assert reached, f"no role of the program reaches {method} {template}"
        walked.append((method, template))
    assert len(walked) >= 14, walked
