"""The OpenAPI document tells the two credentials apart: a staff bearer token and a client
device's token are two security schemes, so a client generator or a fuzzer sends the right one."""

from __future__ import annotations

from api.app import create_app
from infra.settings import Settings


def test_the_staff_token_and_the_device_token_are_two_schemes() -> None:
    document = create_app(Settings(database_url="sqlite://")).openapi()
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"StaffToken", "DeviceToken"}
    assert all(
        s == {"type": "http", "scheme": "bearer", "description": s["description"]}
        for s in schemes.values()
    )
    paths = document["paths"]
    assert paths["/v1/sos"]["post"]["security"] == [{"DeviceToken": []}]
    assert paths["/v1/incidents"]["post"]["security"] == [{"StaffToken": []}]
    device_routes = {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if {"DeviceToken": []} in operation.get("security", [])
    }
    assert device_routes == {"POST /v1/sos"}
