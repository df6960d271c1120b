"""Request limits (SPEC 10.2): a body over 256 KiB is 413, however it is sent; every list and
every map a caller sends has a maximum; an unknown field is 422 on every route; `lat` without
`lon` (or the reverse) is 422 naming the field."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.app import create_app
from domain.vocabulary import Role
from infra.ack_tokens import AckClaim, issue_ack_token
from infra.settings import Settings
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack, stack_app_secret

KIB = 1024
PROBLEM = "application/problem+json"


def _incident(**extra: Any) -> dict[str, Any]:
    return {
        "crisis_type": "panic",
        "summary": "Panic attack in group that will not settle",
        "location": {"zip": "97201"},
        **extra,
    }


def _assert_problem(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        body = response.json()
        named = [e["field"] for e in body.get("errors", [])] or [body.get("field")]
        assert field in named or body["detail"].startswith(f"{field}:"), body


async def test_a_300_kib_body_is_413_and_opens_nothing(stack: Stack, program: DemoProgram) -> None:
    clinician = program.auth(Role.CLINICIAN)
    body = _incident(client_id=str(program.client.id), summary="x" * (300 * KIB))
    answer = await stack.http.post("/v1/incidents", json=body, headers=clinician)
    _assert_problem(answer, 413)
    assert "256 KiB" in answer.json()["detail"]
    listed = await stack.http.get("/v1/incidents", headers=clinician)
    assert listed.json()["count"] == 0


async def test_a_streamed_body_without_a_length_is_counted_and_refused(
    stack: Stack, program: DemoProgram
) -> None:
    encoded = json.dumps(
        _incident(client_id=str(program.client.id), summary="x" * (300 * KIB))
    ).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(encoded), 16 * KIB):
            yield encoded[start : start + 16 * KIB]

    headers = {**program.auth(Role.CLINICIAN), "Content-Type": "application/json"}
    answer = await stack.http.post("/v1/incidents", content=chunks(), headers=headers)
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    _assert_problem(answer, 413)


async def test_a_body_under_the_limit_is_read_as_before(stack: Stack, program: DemoProgram) -> None:
    answer = await stack.http.post(
        "/v1/incidents",
        json=_incident(client_id=str(program.client.id)),
        headers=program.auth(Role.CLINICIAN),
    )
    assert answer.status_code == 201, answer.text


async def test_a_signed_callback_over_the_limit_is_413_before_its_signature_is_read(
    stack: Stack,
) -> None:
    answer = await stack.http.post("/v1/callbacks/dispatch", content=b"{" + b" " * (300 * KIB))
    _assert_problem(answer, 413)


@pytest.mark.parametrize(
    ("path", "role", "body", "field"),
    [
        ("/v1/incidents", Role.CLINICIAN, "incident", "shoe_size"),
        ("/v1/incidents", Role.CLINICIAN, "incident_location", "location.floor"),
        (
            "/v1/clients",
            Role.ADMIN,
            {"first_name": "Ana", "last_name": "Ruiz", "shoe_size": 9},
            "shoe_size",
        ),
        ("/v1/clients/{client}/consents", Role.ADMIN, {"kind": "part2", "shoe_size": 9}, None),
        ("/v1/clients/{client}/devices", Role.ADMIN, {"label": "phone", "shoe_size": 9}, None),
        ("/v1/staff", Role.ADMIN, {"name": "Lee", "role": "clinician", "shoe_size": 9}, None),
        (
            "/v1/resources",
            Role.ADMIN,
            {
                "name": "Line",
                "kind": "crisis_line",
                "phone": "988",
                "lat": 45.5,
                "lon": -122.6,
                "shoe_size": 9,
            },
            None,
        ),
    ],
)
async def test_an_unknown_field_is_422_naming_it(
    stack: Stack, program: DemoProgram, path: str, role: Role, body: Any, field: str | None
) -> None:
    if body == "incident":
        body = _incident(client_id=str(program.client.id), shoe_size=9)
    elif body == "incident_location":
        body = _incident(client_id=str(program.client.id), location={"zip": "97201", "floor": 2})
    answer = await stack.http.post(
        path.format(client=program.client.id), json=body, headers=program.auth(role)
    )
    _assert_problem(answer, 422, field or "shoe_size")


async def test_an_unknown_field_on_the_ack_button_is_422(stack: Stack) -> None:
    token = issue_ack_token(
        stack_app_secret(stack),
        AckClaim(
            incident_id=uuid.uuid4(),
            ladder_id=uuid.uuid4(),
            recipient_id=uuid.uuid4(),
            channel="sms",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        ),
    )
    answer = await stack.http.post(f"/v1/acks/{token}", json={"shoe_size": 9})
    _assert_problem(answer, 422, "shoe_size")


@pytest.mark.parametrize(("sent", "missing"), [({"lat": 45.5}, "lon"), ({"lon": -122.6}, "lat")])
async def test_lat_without_lon_is_422_naming_the_missing_one(
    stack: Stack, program: DemoProgram, sent: dict[str, float], missing: str
) -> None:
    admin = program.auth(Role.ADMIN)
    device = await stack.http.post(
        f"/v1/clients/{program.client.id}/devices", json={"label": "phone"}, headers=admin
    )
    press = await stack.http.post(
        "/v1/sos", json=sent, headers={"Authorization": f"Bearer {device.json()['token']}"}
    )
    _assert_problem(press, 422, missing)
    assert press.json()["errors"][0]["field"] == missing
    opened = await stack.http.post(
        "/v1/incidents",
        json=_incident(client_id=str(program.client.id), location=sent),
        headers=program.auth(Role.CLINICIAN),
    )
    _assert_problem(opened, 422)
    assert opened.json()["errors"][0]["field"] == missing


def _request_schemas() -> list[tuple[str, dict[str, Any]]]:
    document = create_app(Settings(database_url="sqlite://")).openapi()
    components = document["components"]["schemas"]
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(schema: dict[str, Any], where: str) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(components[name], name)
            return
        found.append((where, schema))
        for name, member in schema.get("properties", {}).items():
            walk(member, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(schema[key], f"{where}[]")
        for key in ("anyOf", "oneOf", "allOf"):
            for member in schema.get(key, []):
                walk(member, where)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema", {}), f"{method.upper()} {path}")
    return found


def test_every_list_and_map_a_caller_sends_has_a_maximum_and_no_unknown_field() -> None:
    schemas = _request_schemas()
    unbounded = [
        where
        for where, schema in schemas
        if (schema.get("type") == "array" and "maxItems" not in schema)
        or (
            schema.get("type") == "object"
            and isinstance(schema.get("additionalProperties"), dict)
            and "maxProperties" not in schema
        )
    ]
    open_shapes = [
        where
        for where, schema in schemas
        # a shape, not a rule's branch (`oneOf: [{"required": ["lat", "lon"], ...}]`)
        if schema.get("type") == "object"
        and "properties" in schema
        and schema.get("additionalProperties") is not False
    ]
    assert unbounded == []
    assert open_shapes == []
