"""Opening incidents and recording decisions through the API, on the time-skipping server."""

from __future__ import annotations

from domain.vocabulary import Role
from tests.conftest import DemoProgram, Stack

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
    "notes": "Disclosed intent during group",
}


async def open_incident(stack: Stack, program: DemoProgram, **overrides: object) -> dict:
    body = {
        "client_id": str(program.client.id),
        "crisis_type": "suicidal_ideation",
        "summary": "Disclosed a plan during group session",
        "location": {"zip": "97201"},
        **overrides,
    }
    response = await stack.http.post(
        "/v1/incidents", json=body, headers=program.auth(Role.CLINICIAN)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_open_then_assess_moves_to_assessing_with_risk(stack: Stack, program: DemoProgram) -> None:
    incident = await open_incident(stack, program)
    assert incident["stage"] == "open"
    assert incident["risk_level"] is None
    assert incident["protocol_version"].startswith("suicidal_ideation/")
    assert incident["owner"] == str(program.staff[Role.CLINICIAN].id)

    response = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json=CSSRS_HIGH,
        headers=program.auth(Role.CLINICIAN),
    )
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "assessing"
    assert response.json()["risk_level"] == "high"

    detail = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.status_code == 200
    assert detail.json()["risk_level"] == "high"
