"""The API holds callers to what its OpenAPI document states, no more and no less: a bare number
is not a date-time, `0` is not `false`, a query parameter an operation does not take is refused,
a location is coordinates in pairs or a place, and an undeclared method is answered 405 with
every method the path has. Schemathesis checks the same at random (test_schema_fuzz.py); these
are the cases that once slipped through, named."""

from __future__ import annotations

from typing import Any

from api.app import create_app
from domain.vocabulary import Role
from infra.settings import Settings
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack

DOCUMENT = create_app(Settings(database_url="sqlite://")).openapi()


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {error["field"] for error in response.json()["errors"]}, response.text


async def test_a_bare_number_is_not_a_date_time(stack: Stack, program: DemoProgram) -> None:
    followup = program.auth(Role.FOLLOWUP)

    refused = await stack.http.get("/v1/tasks", params={"due_before": "0.5"}, headers=followup)
    taken = await stack.http.get(
        "/v1/tasks", params={"due_before": "2030-01-31T22:00:00Z"}, headers=followup
    )

    _refused(refused, "query.due_before")
    assert "RFC 3339" in refused.json()["detail"]
    assert taken.status_code == 200
    parameter = next(
        p for p in DOCUMENT["paths"]["/v1/tasks"]["get"]["parameters"] if p["name"] == "due_before"
    )
    assert {"type": "string", "format": "date-time"} in parameter["schema"]["anyOf"]


async def test_json_values_are_taken_as_the_types_the_document_states(
    stack: Stack, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)

    as_number = await stack.http.post(
        "/v1/staff", json={"name": "Dr. Oz", "role": "clinician", "on_call": 0}, headers=admin
    )
    as_boolean = await stack.http.post(
        "/v1/staff", json={"name": "Dr. Oz", "role": "clinician", "on_call": False}, headers=admin
    )

    _refused(as_number, "on_call")
    assert as_boolean.status_code == 201


async def test_a_query_parameter_the_operation_does_not_take_is_refused(
    stack: Stack, program: DemoProgram
) -> None:
    refused = await stack.http.get(
        "/v1/tasks", params={"stauts": "open"}, headers=program.auth(Role.FOLLOWUP)
    )

    _refused(refused, "stauts")
    assert "status" in refused.json()["detail"]  # the parameters it does take are named


async def test_nearby_takes_a_zip_code_or_both_coordinates(
    stack: Stack, program: DemoProgram
) -> None:
    clinician = program.auth(Role.CLINICIAN)
    origin = next(
        p
        for p in DOCUMENT["paths"]["/v1/resources/nearby"]["get"]["parameters"]
        if p["name"] == "origin"
    )

    by_zip = await stack.http.get(
        "/v1/resources/nearby", params={"zip": "97201"}, headers=clinician
    )
    half_a_pair = await stack.http.get(
        "/v1/resources/nearby", params={"lat": "45.5"}, headers=clinician
    )

    assert by_zip.status_code == 200
    _refused(half_a_pair, "query.lon")
    assert [sorted(branch["required"]) for branch in origin["schema"]["oneOf"]] == [
        ["zip"],
        ["lat", "lon"],
    ]


def test_a_location_is_a_coordinate_pair_or_a_place_as_one_of_its_alternatives() -> None:
    location = DOCUMENT["components"]["schemas"]["Location"]

    pair, place = location["oneOf"]

    assert pair["required"] == ["lat", "lon"]
    assert [branch["required"] for branch in place["anyOf"]] == [["address"], ["zip"]]


def test_the_document_states_the_nul_free_rule_on_text_a_caller_sends() -> None:
    staff = DOCUMENT["components"]["schemas"]["StaffCreate"]["properties"]

    assert staff["name"]["pattern"] == "^[^\\u0000]*$"


async def test_an_undeclared_method_gets_405_naming_every_method_of_the_path(
    stack: Stack, program: DemoProgram
) -> None:
    answered = await stack.http.request(
        "DELETE", "/v1/programs/me", headers=program.auth(Role.ADMIN)
    )

    assert answered.status_code == 405
    assert set(answered.headers["allow"].split(", ")) == {"GET", "PATCH"}
