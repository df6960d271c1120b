"""Who may call what: bearer tokens, roles, and programs that cannot see each other."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import Staff
from domain.vocabulary import Role
from infra.db import transaction
from tests.helpers.problems import assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack

CLI = str(Path(sys.executable).parent / "crisisdesk")


async def open_incident(stack: Stack, program: DemoProgram) -> dict[str, object]:
    response = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "panic",
            "summary": "Panic attack that will not settle",
            "location": {"zip": "97201"},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def listed_incident_ids(stack: Stack, program: DemoProgram) -> set[str]:
    response = await stack.http.get("/v1/incidents", headers=program.auth(Role.SUPERVISOR))
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["data"]}


async def wait_until_listed(stack: Stack, program: DemoProgram, incident_id: str) -> None:
    """The list reads the case-file projection, which the workflow writes just after opening."""
    for _ in range(100):
        if incident_id in await listed_incident_ids(stack, program):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"incident {incident_id} never appeared in its own program's list")


# --- authentication ------------------------------------------------------------------------


BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer cdk_not-a-real-token"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "cdk_token-without-scheme"},
]


async def test_a_request_without_a_valid_token_is_401_with_a_challenge(
    stack: Stack, program: DemoProgram
) -> None:
    requests = [
        ("GET", "/v1/clients"),
        ("GET", "/v1/incidents"),
        ("GET", f"/v1/clients/{program.client.id}"),
        ("POST", "/v1/incidents"),
        ("GET", "/v1/staff"),
    ]
    for headers in BAD_CREDENTIALS:
        for method, path in requests:
            response = await stack.http.request(method, path, headers=headers, json={})
            assert_problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer", (headers, path)


async def test_a_deactivated_staff_member_is_locked_out(stack: Stack, program: DemoProgram) -> None:
    clinician = program.staff[Role.CLINICIAN]
    before = await stack.http.get("/v1/clients", headers=program.auth(Role.CLINICIAN))
    assert before.status_code == 200

    deactivated = await stack.http.post(
        f"/v1/staff/{clinician.id}/deactivate", headers=program.auth(Role.ADMIN)
    )
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False

    after = await stack.http.get("/v1/clients", headers=program.auth(Role.CLINICIAN))
    assert_problem(after, 401)
    assert after.headers["www-authenticate"] == "Bearer"
    opening = await stack.http.post(
        "/v1/incidents",
        json={"client_id": str(program.client.id), "crisis_type": "panic", "summary": "x" * 5},
        headers=program.auth(Role.CLINICIAN),
    )
    assert_problem(opening, 401)


# --- roles ---------------------------------------------------------------------------------


async def test_a_role_without_the_right_is_403_naming_the_role(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    incident_path = f"/v1/incidents/{incident['id']}"
    client_path = f"/v1/clients/{program.client.id}"
    new_incident = {
        "client_id": str(program.client.id),
        "crisis_type": "panic",
        "summary": "Panic attack",
        "location": {"zip": "97201"},
    }
    forbidden: list[tuple[Role, str, str, dict[str, object] | None]] = [
        (Role.FOLLOWUP, "POST", "/v1/incidents", new_incident),
        (Role.ADMIN, "POST", "/v1/incidents", new_incident),
        (Role.FOLLOWUP, "GET", "/v1/incidents", None),
        (Role.FOLLOWUP, "GET", incident_path, None),
        (Role.ADMIN, "POST", f"{incident_path}/decisions", {"kind": "note", "text": "admin note"}),
        (
            Role.FOLLOWUP,
            "POST",
            f"{incident_path}/decisions",
            {"kind": "note", "text": "task note"},
        ),
        (
            Role.CLINICIAN,
            "POST",
            f"{incident_path}/decisions",
            {"kind": "close", "reason": "all settled"},
        ),
        (Role.CLINICIAN, "GET", f"{incident_path}/history", None),
        (Role.CLINICIAN, "POST", "/v1/clients", {"first_name": "A", "last_name": "B"}),
        (Role.SUPERVISOR, "POST", "/v1/clients", {"first_name": "A", "last_name": "B"}),
        (Role.FOLLOWUP, "GET", "/v1/clients", None),
        (Role.CLINICIAN, "GET", f"{client_path}/consents", None),
        (
            Role.CLINICIAN,
            "POST",
            f"{client_path}/contacts",
            {
                "name": "Lia",
                "relationship": "sister",
                "kind": "personal",
                "phone": "+15035550101",
                "channels": ["voice"],
            },
        ),
        (Role.CLINICIAN, "GET", "/v1/staff", None),
        (Role.SUPERVISOR, "POST", "/v1/staff", {"name": "New", "role": "admin"}),
        (Role.CLINICIAN, "POST", f"/v1/staff/{program.staff[Role.ADMIN].id}/deactivate", None),
    ]
    for role, method, path, body in forbidden:
        response = await stack.http.request(method, path, json=body, headers=program.auth(role))
        problem = assert_problem(response, 403)
        assert str(role) in str(problem["detail"]), (role, method, path)

    # The refused admin did not deactivate anyone, and nobody could add themselves as admin.
    still = await stack.http.get("/v1/clients", headers=program.auth(Role.ADMIN))
    assert still.status_code == 200
    staff = await stack.http.get("/v1/staff", headers=program.auth(Role.ADMIN))
    assert staff.json()["count"] == len(Role)


# --- programs ------------------------------------------------------------------------------


async def test_another_programs_incident_is_not_found(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_program(sessions, "other")
    incident = await open_incident(stack, program)
    path = f"/v1/incidents/{incident['id']}"
    await wait_until_listed(stack, program, str(incident["id"]))

    for role in (Role.CLINICIAN, Role.SUPERVISOR):
        problem = assert_problem(await stack.http.get(path, headers=other.auth(role)), 404)
        assert str(incident["id"]) not in str(problem)

    note = await stack.http.post(
        f"{path}/decisions",
        json={"kind": "note", "text": "should never land"},
        headers=other.auth(Role.CLINICIAN),
    )
    assert_problem(note, 404)
    close = await stack.http.post(
        f"{path}/decisions",
        json={"kind": "close", "reason": "not yours"},
        headers=other.auth(Role.SUPERVISOR),
    )
    assert_problem(close, 404)
    history = await stack.http.get(f"{path}/history", headers=other.auth(Role.SUPERVISOR))
    assert_problem(history, 404)

    assert str(incident["id"]) not in await listed_incident_ids(stack, other)
    # The incident is untouched: still open, and the foreign note is nowhere in it.
    mine = await stack.http.get(path, headers=program.auth(Role.CLINICIAN))
    assert mine.status_code == 200
    assert mine.json()["stage"] == "open"
    assert "should never land" not in mine.text


async def test_an_unknown_incident_and_a_foreign_one_answer_alike(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_program(sessions, "other")
    incident = await open_incident(stack, program)
    foreign = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=other.auth(Role.CLINICIAN)
    )
    missing = await stack.http.get(
        f"/v1/incidents/{uuid.uuid4()}", headers=other.auth(Role.CLINICIAN)
    )
    assert assert_problem(foreign, 404) == assert_problem(missing, 404)


async def test_another_programs_client_is_not_found(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_program(sessions, "other")
    client_path = f"/v1/clients/{program.client.id}"

    assert_problem(await stack.http.get(client_path, headers=other.auth(Role.CLINICIAN)), 404)
    assert_problem(
        await stack.http.get(f"{client_path}/contacts", headers=other.auth(Role.CLINICIAN)), 404
    )
    assert_problem(
        await stack.http.get(f"{client_path}/consents", headers=other.auth(Role.ADMIN)), 404
    )
    contact = await stack.http.post(
        f"{client_path}/contacts",
        json={
            "name": "Lia Ruiz",
            "relationship": "sister",
            "kind": "personal",
            "phone": "+15035550101",
            "channels": ["sms"],
        },
        headers=other.auth(Role.ADMIN),
    )
    assert_problem(contact, 404)

    listed = await stack.http.get("/v1/clients", headers=other.auth(Role.CLINICIAN))
    assert [c["id"] for c in listed.json()["data"]] == [str(other.client.id)]

    opening = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "panic",
            "summary": "Opened for a client of another program",
            "location": {"zip": "97201"},
        },
        headers=other.auth(Role.CLINICIAN),
    )
    assert_problem(opening, 404)
    assert await listed_incident_ids(stack, other) == set()


async def test_another_programs_resources_and_staff_are_out_of_reach(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_program(sessions, "other")
    created = await stack.http.post(
        "/v1/resources",
        json={
            "name": "Unity Center",
            "kind": "crisis_center",
            "phone": "+15039443900",
            "lat": 45.53,
            "lon": -122.66,
        },
        headers=program.auth(Role.ADMIN),
    )
    assert created.status_code == 201, created.text
    resource_id = created.json()["id"]

    assert_problem(
        await stack.http.get(f"/v1/resources/{resource_id}", headers=other.auth(Role.CLINICIAN)),
        404,
    )
    listed = await stack.http.get("/v1/resources", headers=other.auth(Role.CLINICIAN))
    assert listed.json() == {"data": [], "count": 0}

    victim = program.staff[Role.CLINICIAN]
    assert_problem(
        await stack.http.post(f"/v1/staff/{victim.id}/deactivate", headers=other.auth(Role.ADMIN)),
        404,
    )
    staff = await stack.http.get("/v1/staff", headers=other.auth(Role.ADMIN))
    assert str(victim.id) not in {s["id"] for s in staff.json()["data"]}
    still_in = await stack.http.get("/v1/clients", headers=program.auth(Role.CLINICIAN))
    assert still_in.status_code == 200


# --- tokens expire, rotate, and record their last use ----------------------------------------


def crisisdesk(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRISISDESK_DATABASE_URL": database_url}
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_an_expired_token_is_401_naming_the_expiry(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clinician = program.staff[Role.CLINICIAN]
    assert (await stack.http.get("/v1/clients", headers=program.auth(Role.CLINICIAN))).is_success
    async with transaction(sessions) as session:
        row = await session.get(Staff, clinician.id)
        assert row is not None
        row.token_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = await stack.http.get("/v1/clients", headers=program.auth(Role.CLINICIAN))
    assert "expired" in str(assert_problem(expired, 401)["detail"])
    assert expired.headers["www-authenticate"] == "Bearer"


async def test_new_tokens_last_90_days_and_their_last_use_is_recorded(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    added = await stack.http.post(
        "/v1/staff",
        json={"name": "New clinician", "role": "clinician"},
        headers=program.auth(Role.ADMIN),
    )
    assert added.status_code == 201, added.text
    lifetime = datetime.fromisoformat(added.json()["token_expires_at"]) - datetime.now(UTC)
    assert timedelta(days=89, hours=23) < lifetime <= timedelta(days=90)
    assert added.json()["last_used_at"] is None
    token = added.json()["token"]
    assert (
        await stack.http.get("/v1/clients", headers={"Authorization": f"Bearer {token}"})
    ).is_success
    listed = await stack.http.get("/v1/staff", headers=program.auth(Role.ADMIN))
    newcomer = next(s for s in listed.json()["data"] if s["id"] == added.json()["id"])
    assert newcomer["last_used_at"] is not None
    assert "token" not in newcomer and "token_hash" not in newcomer


async def test_rotate_issues_a_new_token_and_ends_the_old_one(
    stack: Stack, program: DemoProgram, database_url: str
) -> None:
    supervisor = program.staff[Role.SUPERVISOR]
    rotated = crisisdesk(database_url, "staff", "rotate", str(supervisor.id))
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip()
    assert new_token.startswith("cdk_")
    old = await stack.http.get("/v1/incidents", headers=program.auth(Role.SUPERVISOR))
    assert_problem(old, 401)
    new = await stack.http.get("/v1/incidents", headers={"Authorization": f"Bearer {new_token}"})
    assert new.status_code == 200, new.text
    unknown = crisisdesk(database_url, "staff", "rotate", str(uuid.uuid4()))
    assert unknown.returncode == 1
    assert "no staff member" in unknown.stderr


async def test_staff_add_takes_the_tokens_lifetime_in_days(
    program: DemoProgram, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    added = crisisdesk(
        database_url,
        "staff",
        "add",
        "--program",
        "demo",
        "--role",
        "followup",
        "--name",
        "Weekend caller",
        "--expires-in",
        "2",
    )
    assert added.returncode == 0, added.stderr
    async with sessions() as session:
        row = (await session.exec(select(Staff).where(Staff.name == "Weekend caller"))).one()
    lifetime = row.token_expires_at - datetime.now(UTC)
    assert timedelta(days=1, hours=23) < lifetime <= timedelta(days=2)
