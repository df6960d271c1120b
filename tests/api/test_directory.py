"""The directory the incidents use: clients, emergency contacts, consents, resources and staff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest_asyncio

from api.app import create_app
from domain.vocabulary import Role
from infra.settings import Settings
from tests.helpers.problems import assert_invalid, assert_problem
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING

CONTACT = {
    "name": "Lia Ruiz",
    "relationship": "sister",
    "kind": "personal",
    "phone": "+15035550101",
    "email": "lia@example.org",
    "channels": ["sms", "voice", "email"],
    "priority": 1,
}
RESOURCE = {
    "name": "Unity Center for Behavioral Health",
    "kind": "crisis_center",
    "phone": "+15039443900",
    "address": "1225 NE 2nd Ave, Portland, OR",
    "zip": "97232",
    "lat": 45.5317,
    "lon": -122.6637,
    "services": ["psychiatric_emergency"],
}


@pytest_asyncio.fixture(loop_scope="session")
async def http(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on the test's database; the directory never touches Temporal, so no worker."""
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, encryption_keys=KEYRING.render()
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await app.state.runtime.close()


async def _new_client(
    http: httpx.AsyncClient, program: DemoProgram, **fields: str
) -> dict[str, str]:
    body = {"first_name": "Ben", "last_name": "Okafor", "phone": "+15035550111", **fields}
    response = await http.post("/v1/clients", json=body, headers=program.auth(Role.ADMIN))
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


# --- clients -------------------------------------------------------------------------------


async def test_admin_registers_a_client_that_clinicians_then_read(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    created = await _new_client(http, program, zip="97201", email="ben@example.org")
    assert created["program_id"] == str(program.program.id)
    assert created["first_name"] == "Ben"

    listed = await http.get("/v1/clients", headers=program.auth(Role.CLINICIAN))
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert [c["last_name"] for c in listed.json()["data"]] == ["Okafor", "Ruiz"]

    one = await http.get(f"/v1/clients/{created['id']}", headers=program.auth(Role.SUPERVISOR))
    assert one.status_code == 200
    assert one.json() == created

    page = await http.get(
        "/v1/clients", params={"limit": 1, "offset": 1}, headers=program.auth(Role.CLINICIAN)
    )
    assert [c["last_name"] for c in page.json()["data"]] == ["Ruiz"]
    assert page.json()["count"] == 2


async def test_a_client_with_bad_fields_is_422_naming_each_field(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)
    cases = [
        ({"last_name": "Okafor"}, "first_name"),
        ({"first_name": "", "last_name": "Okafor"}, "first_name"),
        ({"first_name": "Ben", "last_name": "B" * 101}, "last_name"),
    ]
    for body, field in cases:
        assert_invalid(await http.post("/v1/clients", json=body, headers=admin), field)
    listed = await http.get("/v1/clients", headers=admin)
    assert listed.json()["count"] == 1


async def test_malformed_or_missing_json_is_422_not_500(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    headers = {**program.auth(Role.ADMIN), "Content-Type": "application/json"}
    for content in ['{"first_name": "Ben", "last_name":', "not json at all", "[1, 2]", ""]:
        response = await http.post("/v1/clients", content=content, headers=headers)
        assert_problem(response, 422)
    listed = await http.get("/v1/clients", headers=headers)
    assert listed.json()["count"] == 1


async def test_a_body_that_is_not_utf8_is_a_400_problem_as_documented(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    headers = {**program.auth(Role.ADMIN), "Content-Type": "application/json"}
    response = await http.post("/v1/clients", content=b'{"first_name": "\xff"}', headers=headers)
    assert_problem(response, 400)
    document = (await http.get("/openapi.json")).json()
    assert "400" in document["paths"]["/v1/clients"]["post"]["responses"]


async def test_every_documented_error_is_a_problem_detail(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    problem = {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response.get("content") == problem, (method, path, status)


async def test_text_holding_a_nul_character_is_422_naming_the_field_and_not_stored(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    """PostgreSQL's text cannot hold a NUL character: refused up front, on either database."""
    admin = program.auth(Role.ADMIN)
    client_path = f"/v1/clients/{program.client.id}"
    cases = [
        ("/v1/clients", {"first_name": "Ben\u0000", "last_name": "Okafor"}, "first_name"),
        ("/v1/staff", {"name": "Dr\u0000Who", "role": "clinician"}, "name"),
        ("/v1/resources", {**RESOURCE, "address": "1225 NE 2nd\u0000Ave"}, "address"),
        (f"{client_path}/contacts", {**CONTACT, "relationship": "sis\u0000ter"}, "relationship"),
        (f"{client_path}/devices", {"label": "phone\u0000"}, "label"),
    ]
    for path, body, field in cases:
        assert_invalid(await http.post(path, json=body, headers=admin), field)
    assert (await http.get("/v1/clients", headers=admin)).json()["count"] == 1
    assert (await http.get("/v1/staff", headers=admin)).json()["count"] == len(Role)
    assert (await http.get("/v1/resources", headers=admin)).json()["count"] == 0
    assert (await http.get(f"{client_path}/contacts", headers=admin)).json()["count"] == 0


async def test_unknown_paths_bad_ids_and_bad_queries_answer_problem_details(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    clinician = program.auth(Role.CLINICIAN)
    assert_problem(await http.get("/v1/nothing-here", headers=clinician), 404)
    assert_problem(await http.delete("/v1/clients", headers=clinician), 405)
    assert_invalid(await http.get("/v1/clients/not-a-uuid", headers=clinician), "client_id")
    missing = await http.get("/v1/clients/00000000-0000-4000-8000-000000000000", headers=clinician)
    assert "client" in str(assert_problem(missing, 404)["detail"])
    assert_invalid(await http.get("/v1/clients", params={"limit": 0}, headers=clinician), "limit")
    assert_invalid(
        await http.get("/v1/resources", params={"kind": "spa"}, headers=clinician), "kind"
    )


async def test_phone_email_and_zip_formats_are_checked(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)
    client = {"first_name": "Ben", "last_name": "Okafor"}
    contacts = f"/v1/clients/{program.client.id}/contacts"
    cases = [
        ("/v1/clients", {**client, "phone": "503-555-0111"}, "phone"),
        ("/v1/clients", {**client, "email": "not-an-address"}, "email"),
        ("/v1/clients", {**client, "zip": "972"}, "zip"),
        (contacts, {**CONTACT, "phone": "5550101"}, "phone"),
        (contacts, {**CONTACT, "email": "lia at example"}, "email"),
        ("/v1/resources", {**RESOURCE, "zip": "9723"}, "zip"),
    ]
    for path, body, field in cases:
        assert_invalid(await http.post(path, json=body, headers=admin), field)


# --- emergency contacts --------------------------------------------------------------------


async def test_contacts_are_added_by_admin_and_listed_in_priority_order(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    path = f"/v1/clients/{program.client.id}/contacts"
    admin = program.auth(Role.ADMIN)
    second = await http.post(
        path,
        json={
            **CONTACT,
            "name": "Dr. Hale",
            "kind": "medical",
            "priority": 2,
            "channels": ["voice"],
            "facility": "OHSU Psychiatry",
        },
        headers=admin,
    )
    assert second.status_code == 201, second.text
    first = await http.post(path, json=CONTACT, headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["channels"] == ["sms", "voice", "email"]
    assert first.json()["client_id"] == str(program.client.id)

    listed = await http.get(path, headers=program.auth(Role.CLINICIAN))
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["data"]] == ["Lia Ruiz", "Dr. Hale"]
    assert listed.json()["data"][1]["facility"] == "OHSU Psychiatry"
    assert listed.json()["count"] == 2


async def test_a_contact_with_bad_channels_is_422_and_not_stored(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    path = f"/v1/clients/{program.client.id}/contacts"
    admin = program.auth(Role.ADMIN)
    cases = [
        ({**CONTACT, "channels": ["sms", "sms"]}, "channels"),
        ({**CONTACT, "channels": []}, "channels"),
        ({**CONTACT, "channels": ["pigeon"]}, "channels"),
        ({**CONTACT, "channels": ["webhook"]}, "channels"),
        ({**CONTACT, "kind": "neighbour"}, "kind"),
        ({**CONTACT, "priority": 0}, "priority"),
    ]
    for body, field in cases:
        assert_invalid(await http.post(path, json=body, headers=admin), field)
    listed = await http.get(path, headers=admin)
    assert listed.json()["count"] == 0


async def test_a_channel_without_its_address_is_422_naming_the_missing_field(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    path = f"/v1/clients/{program.client.id}/contacts"
    admin = program.auth(Role.ADMIN)
    no_phone = {k: v for k, v in CONTACT.items() if k != "phone"}
    problem = assert_problem(
        await http.post(path, json={**no_phone, "channels": ["sms"]}, headers=admin), 422
    )
    assert "phone" in str(problem["detail"])
    no_email = {k: v for k, v in CONTACT.items() if k != "email"}
    problem = assert_problem(
        await http.post(path, json={**no_email, "channels": ["email"]}, headers=admin), 422
    )
    assert "email" in str(problem["detail"])
    assert (await http.get(path, headers=admin)).json()["count"] == 0


async def test_the_missing_address_is_reported_as_its_field(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    no_phone = {k: v for k, v in CONTACT.items() if k != "phone"}
    response = await http.post(
        f"/v1/clients/{program.client.id}/contacts",
        json={**no_phone, "channels": ["sms"]},
        headers=program.auth(Role.ADMIN),
    )
    assert_invalid(response, "phone", "channels")


# --- consents ------------------------------------------------------------------------------


async def _contact(http: httpx.AsyncClient, program: DemoProgram, client_id: str) -> str:
    response = await http.post(
        f"/v1/clients/{client_id}/contacts", json=CONTACT, headers=program.auth(Role.ADMIN)
    )
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    return contact_id


async def test_a_consent_is_recorded_with_its_expiry_and_who_recorded_it(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    contact_id = await _contact(http, program, str(program.client.id))
    path = f"/v1/clients/{program.client.id}/consents"
    response = await http.post(
        path,
        json={"kind": "part2", "contact_id": contact_id, "expires_at": "2027-06-01T02:00:00+02:00"},
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text
    consent = response.json()
    assert consent["recorded_by"] == str(program.staff[Role.ADMIN].id)
    assert consent["revoked_at"] is None
    assert datetime.fromisoformat(consent["expires_at"]) == datetime(2027, 6, 1, tzinfo=UTC)

    listed = await http.get(path, headers=program.auth(Role.ADMIN))
    assert listed.json()["count"] == 1
    [stored] = listed.json()["data"]
    assert stored["contact_id"] == contact_id
    assert stored["kind"] == "part2"
    assert datetime.fromisoformat(stored["expires_at"]) == datetime(2027, 6, 1, tzinfo=UTC)


async def test_a_consent_that_cannot_be_right_is_422_and_not_stored(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    mine = await _contact(http, program, str(program.client.id))
    other_client = await _new_client(http, program)
    theirs = await _contact(http, program, other_client["id"])
    path = f"/v1/clients/{program.client.id}/consents"
    admin = program.auth(Role.ADMIN)

    naive = {"kind": "part2", "contact_id": mine, "expires_at": "2027-06-01T00:00:00"}
    assert_invalid(await http.post(path, json=naive, headers=admin), "expires_at")
    # Another client's contact, or none at all: no such record, as for an incident's client_id.
    foreign = {"kind": "contact_disclosure", "contact_id": theirs}
    refused = assert_problem(await http.post(path, json=foreign, headers=admin), 404)
    assert refused["errors"] == [{"field": "contact_id", "message": "not a contact of this client"}]
    unknown = {"kind": "part2", "contact_id": "00000000-0000-4000-8000-000000000000"}
    assert_problem(await http.post(path, json=unknown, headers=admin), 404)
    bad_kind = {"kind": "verbal", "contact_id": mine}
    assert_invalid(await http.post(path, json=bad_kind, headers=admin), "kind")

    assert (await http.get(path, headers=admin)).json()["count"] == 0


# --- resources -----------------------------------------------------------------------------


async def test_resources_are_created_by_admin_and_searched_by_clinicians(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)
    created = await http.post("/v1/resources", json=RESOURCE, headers=admin)
    assert created.status_code == 201, created.text
    er = await http.post(
        "/v1/resources",
        json={**RESOURCE, "name": "Legacy Emanuel ER", "kind": "emergency_room"},
        headers=admin,
    )
    assert er.status_code == 201, er.text

    clinician = program.auth(Role.CLINICIAN)
    everything = await http.get("/v1/resources", headers=clinician)
    assert everything.json()["count"] == 2
    assert [r["name"] for r in everything.json()["data"]] == [
        "Legacy Emanuel ER",
        "Unity Center for Behavioral Health",
    ]
    centers = await http.get("/v1/resources", params={"kind": "crisis_center"}, headers=clinician)
    assert centers.json()["count"] == 1
    [center] = centers.json()["data"]
    assert center["services"] == ["psychiatric_emergency"]
    one = await http.get(f"/v1/resources/{center['id']}", headers=clinician)
    assert one.json() == created.json()


async def test_a_resource_with_bad_fields_is_422_naming_the_field(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)
    cases = [
        ({**RESOURCE, "lat": 91}, "lat"),
        ({**RESOURCE, "lon": -181}, "lon"),
        ({**RESOURCE, "kind": "spa"}, "kind"),
        ({k: v for k, v in RESOURCE.items() if k != "phone"}, "phone"),
    ]
    for body, field in cases:
        assert_invalid(await http.post("/v1/resources", json=body, headers=admin), field)
    clinician_post = await http.post(
        "/v1/resources", json=RESOURCE, headers=program.auth(Role.CLINICIAN)
    )
    assert_problem(clinician_post, 403)
    assert (await http.get("/v1/resources", headers=admin)).json()["count"] == 0


# --- staff ---------------------------------------------------------------------------------


async def test_a_new_staff_token_is_shown_once_and_works(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    created = await http.post(
        "/v1/staff",
        json={"name": "Dr. Amara Lind", "role": "clinician"},
        headers=program.auth(Role.ADMIN),
    )
    assert created.status_code == 201, created.text
    member = created.json()
    token = member["token"]
    assert token.startswith("cdk_")
    assert member["role"] == "clinician"
    assert member["active"] is True
    assert member["program_id"] == str(program.program.id)

    theirs = {"Authorization": f"Bearer {token}"}
    clients = await http.get("/v1/clients", headers=theirs)
    assert clients.status_code == 200
    assert clients.json()["count"] == 1
    assert_problem(await http.get("/v1/staff", headers=theirs), 403)

    staff = await http.get("/v1/staff", headers=program.auth(Role.ADMIN))
    assert staff.status_code == 200
    assert staff.json()["count"] == len(Role) + 1
    listed = {s["id"]: s for s in staff.json()["data"]}
    assert listed[member["id"]]["name"] == "Dr. Amara Lind"
    assert token not in staff.text
    assert all("token" not in s and "token_hash" not in s for s in staff.json()["data"])


async def test_clinicians_and_supervisors_list_the_active_staff_without_tokens(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)
    leaving = await http.post(
        "/v1/staff", json={"name": "Leaving", "role": "clinician"}, headers=admin
    )
    gone = leaving.json()["id"]
    assert (await http.post(f"/v1/staff/{gone}/deactivate", headers=admin)).status_code == 200
    supervisor = program.staff[Role.SUPERVISOR]
    for role in (Role.CLINICIAN, Role.SUPERVISOR, Role.ADMIN):
        response = await http.get("/v1/staff/directory", headers=program.auth(role))
        assert response.status_code == 200, response.text
        listed = {member["id"]: member for member in response.json()["data"]}
        assert response.json()["count"] == len(Role)
        assert gone not in listed
        assert listed[str(supervisor.id)] == {
            "id": str(supervisor.id),
            "name": supervisor.name,
            "role": "supervisor",
            "on_call": True,
        }
        assert not any(token in response.text for token in program.tokens.values())
    clinicians = await http.get(
        "/v1/staff/directory", params={"role": "clinician"}, headers=program.auth(Role.SUPERVISOR)
    )
    assert [m["id"] for m in clinicians.json()["data"]] == [str(program.staff[Role.CLINICIAN].id)]
    assert_problem(await http.get("/v1/staff/directory", headers=program.auth(Role.FOLLOWUP)), 403)


async def test_a_staff_member_with_a_bad_role_is_422(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)
    assert_invalid(
        await http.post("/v1/staff", json={"name": "X", "role": "root"}, headers=admin),
        "role",
    )
    assert_invalid(
        await http.post("/v1/staff", json={"name": "", "role": "admin"}, headers=admin),
        "name",
    )
    assert (await http.get("/v1/staff", headers=admin)).json()["count"] == len(Role)


async def test_admin_reads_their_own_program(http: httpx.AsyncClient, program: DemoProgram) -> None:
    response = await http.get("/v1/programs/me", headers=program.auth(Role.ADMIN))
    assert response.status_code == 200
    assert response.json()["slug"] == "demo"
    assert response.json()["id"] == str(program.program.id)
