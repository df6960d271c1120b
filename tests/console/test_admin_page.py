"""The admin's pages over the real app: clients with their contacts, consents and SOS links;
staff (the new token shown once); the resource directory and its CSV import. What the admin
sees, and what the JSON API then says."""

from __future__ import annotations

import re
from typing import Any

from domain.vocabulary import Role
from tests.helpers.console_pages import (
    browser_of,
    problem_of,
    signed_in,
    submit,
    text_of,
)
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack

HEADER = "name,kind,phone,address,zip,lat,lon,region,open_24_7,hours,services\n"
GOOD = (
    HEADER
    + "Riverside ER,emergency_room,+15034948311,1 River Rd,97239,45.4992,-122.6865,,true,,\n"
    + "Night Clinic,urgent_care,+15035550190,,97201,,,,,mon=08:00-20:00,walk_in\n"
)
ONE_BAD_ROW = (
    HEADER
    + "Fine ER,emergency_room,+15034948311,,97239,45.4992,-122.6865,,,,\n"
    + "Spaceport,rocket_pad,+15035550191,,97201,,,,,,\n"
)


async def json_of(stack: Stack, program: DemoProgram, path: str) -> dict[str, Any]:
    answer = await stack.http.get(path, headers=program.auth(Role.ADMIN))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_an_added_client_appears_with_contacts_and_a_revocable_consent(
    stack: Stack, program: DemoProgram
) -> None:
    async with signed_in(stack, program, Role.ADMIN) as browser:
        home = await browser.get("/admin")
        assert home.status_code == 200
        assert home.headers["cache-control"] == "no-store"
        assert "Ruiz, Ana" in text_of(home.text)
        added = await submit(
            browser,
            "/admin",
            "/admin/clients",
            {"first_name": "Bo", "last_name": "Tran", "phone": "+15035550123", "zip": "97232"},
        )
        assert added.status_code == 200
        assert "Client: Bo Tran" in text_of(added.text)
        client_path = str(added.url.path)
        assert "Tran, Bo" in text_of((await browser.get("/admin")).text)

        contact = await submit(
            browser,
            client_path,
            f"{client_path}/contacts",
            {
                "name": "Kim Tran",
                "relationship": "sister",
                "kind": "personal",
                "phone": "+15035550124",
                "priority": "1",
                "channels": ["sms", "voice"],
            },
        )
        assert contact.status_code == 200, problem_of(contact.text)
        page = await submit(
            browser, client_path, f"{client_path}/consents", {"kind": "contact_disclosure"}
        )
        assert "Kim Tran" in text_of(page.text)
        [consent_id] = re.findall(r'data-consent-id="([^"]+)"', page.text)
        revoked = await submit(
            browser,
            client_path,
            f"{client_path}/consents/{consent_id}/revoke",
            {"reason": "Client withdrew it on the phone"},
        )
        assert "revoked" in text_of(revoked.text)
        assert "Client withdrew it on the phone" in text_of(revoked.text)

    client_id = client_path.rsplit("/", 1)[-1]
    clients = await json_of(stack, program, "/v1/clients")
    assert any(c["id"] == client_id and c["last_name"] == "Tran" for c in clients["data"])
    contacts = await json_of(stack, program, f"/v1/clients/{client_id}/contacts")
    assert [c["channels"] for c in contacts["data"]] == [["sms", "voice"]]
    consents = await json_of(stack, program, f"/v1/clients/{client_id}/consents")
    [consent] = consents["data"]
    assert consent["revoked_at"] is not None
    assert consent["revocation_reason"] == "Client withdrew it on the phone"


async def test_a_wrong_client_is_refused_in_the_page_and_nothing_is_added(
    stack: Stack, program: DemoProgram
) -> None:
    async with signed_in(stack, program, Role.ADMIN) as browser:
        refused = await submit(
            browser,
            "/admin",
            "/admin/clients",
            {"first_name": "Cy", "last_name": "Lo", "phone": "555"},
        )
        assert refused.status_code == 422
        assert "phone" in (problem_of(refused.text) or "")
    clients = await json_of(stack, program, "/v1/clients")
    assert [c["last_name"] for c in clients["data"]] == ["Ruiz"]


async def test_a_new_staff_token_is_shown_once_and_deactivating_ends_it(
    stack: Stack, program: DemoProgram
) -> None:
    async with signed_in(stack, program, Role.ADMIN) as browser:
        added = await submit(
            browser, "/admin/staff", "/admin/staff", {"name": "Dee Park", "role": "followup"}
        )
        assert added.status_code == 201
        found = re.search(r'<input id="new-token" readonly value="([^"]+)"', added.text)
        assert found, "the page shows the new token"
        new_token = found.group(1)
        assert new_token not in (await browser.get("/admin/staff")).text  # shown this once
        async with browser_of(stack, new_token) as dee:
            assert (await dee.get("/tasks")).status_code == 200
        [dee_id] = re.findall(r'data-staff-id="([^"]+)"[^>]*>\s*<td>Dee Park', added.text)
        deactivated = await submit(browser, "/admin/staff", f"/admin/staff/{dee_id}/deactivate")
        assert f'data-staff-id="{dee_id}" data-active="false"' in deactivated.text
    refused = await stack.http.post("/signin", data={"token": new_token})
    assert refused.status_code == 401


async def test_a_csv_import_adds_every_row_or_names_the_bad_one(
    stack: Stack, program: DemoProgram
) -> None:
    async with signed_in(stack, program, Role.ADMIN) as browser:
        bad = await submit(
            browser,
            "/admin/resources",
            "/admin/resources/import",
            files={"file": ("bad.csv", ONE_BAD_ROW.encode(), "text/csv")},
        )
        assert bad.status_code == 422
        refusal = problem_of(bad.text) or ""
        assert "line 3: kind" in refusal and "Nothing was imported" in refusal
        assert (await json_of(stack, program, "/v1/resources"))["count"] == 0

        good = await submit(
            browser,
            "/admin/resources",
            "/admin/resources/import",
            files={"file": ("good.csv", GOOD.encode(), "text/csv")},
        )
        assert good.status_code == 201
        assert "Imported 2 resources from good.csv" in text_of(good.text)
        assert "Night Clinic" in text_of(good.text)
    listed = await json_of(stack, program, "/v1/resources")
    assert sorted(r["name"] for r in listed["data"]) == ["Night Clinic", "Riverside ER"]


async def test_one_resource_added_from_its_form_takes_the_zip_codes_place(
    stack: Stack, program: DemoProgram
) -> None:
    fields = {"name": "Crisis Center", "kind": "crisis_center", "phone": "+15035550150"}
    async with signed_in(stack, program, Role.ADMIN) as browser:
        wrong = await submit(
            browser,
            "/admin/resources",
            "/admin/resources",
            {**fields, "zip": "97201", "open_24_7": "true", "hours": "mon=08:00-20:00"},
        )
        assert wrong.status_code == 422
        assert "open_24_7" in (problem_of(wrong.text) or "")
        added = await submit(
            browser, "/admin/resources", "/admin/resources", {**fields, "zip": "97201"}
        )
        assert added.status_code == 201, problem_of(added.text)
    [resource] = (await json_of(stack, program, "/v1/resources"))["data"]
    assert resource["name"] == "Crisis Center" and resource["open_24_7"] is False
    assert resource["lat"] and resource["lon"]


async def test_an_sos_link_is_shown_once_when_issued(stack: Stack, program: DemoProgram) -> None:
    client_page = f"/admin/clients/{program.client.id}"
    async with signed_in(stack, program, Role.ADMIN) as browser:
        issued = await submit(browser, client_page, f"{client_page}/devices", {"label": "phone"})
        assert issued.status_code == 201
        # On the configured public address, never the Host the request came with.
        public = re.escape(stack.settings.public_url.rstrip("/"))
        link = re.search(rf"data-sos-link>({public}/sos/[^<]+)<", issued.text)
        assert link, "the page shows the SOS link"
        token = link.group(1).rsplit("/", 1)[-1]
        again = await browser.get(client_page)
        assert token not in again.text and "phone" in text_of(again.text)


async def test_only_an_admin_sees_the_admin_pages_and_a_forged_post_changes_nothing(
    stack: Stack, program: DemoProgram
) -> None:
    for role in (Role.FOLLOWUP, Role.CLINICIAN, Role.SUPERVISOR):
        async with signed_in(stack, program, role) as browser:
            for path in ("/admin", "/admin/staff", "/admin/resources"):
                assert (await browser.get(path)).status_code == 404, (role, path)
            assert (await browser.get(f"/admin/clients/{program.client.id}")).status_code == 404
    async with signed_in(stack, program, Role.ADMIN) as browser:
        forged = await browser.post("/admin/clients", data={"first_name": "X", "last_name": "Y"})
        assert forged.status_code == 403
        assert "Tran" not in text_of((await browser.get("/admin")).text)
        assert "Y, X" not in text_of((await browser.get("/admin")).text)
