"""Local dispatch: the packet reaches the provider signed; the provider's signed callbacks
advance the dispatch once; an unconfirmed dispatch escalates on the time-skipping server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from infra.signatures import sign
from tests.fakes.webhook import WebhookReceiver
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack, running_stack

SECRET = "dispatch-shared-secret-for-tests"
JUDGED_HIGH = {
    "kind": "assessment",
    "instrument": "clinical_judgement",
    "risk_override": "high",
    "justification": "Command hallucinations, not safe alone",
}
CONFIRM_WINDOW = protocol_for(CrisisType.PSYCHOSIS).dispatch_confirm_window


@pytest_asyncio.fixture(loop_scope="session")
async def dispatch_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    webhook_receiver: WebhookReceiver,
) -> AsyncIterator[Stack]:
    async with running_stack(
        ts_env,
        database_url,
        sessions,
        tmp_path,
        dispatch_webhook_url=webhook_receiver.url("/cad"),
        webhook_secret=SECRET,
    ) as stack:
        yield stack


async def mobile_crisis(stack: Stack, program: DemoProgram) -> str:
    response = await stack.http.post(
        "/v1/resources",
        json={
            "name": "Multnomah County Mobile Crisis",
            "kind": "mobile_crisis",
            "phone": "+15039884888",
            "zip": "97204",
            "lat": 45.5152,
            "lon": -122.6784,
        },
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def signed(body: dict[str, Any], at: float | None = None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    header = sign(SECRET, int(at if at is not None else time.time()), raw)
    return raw, {"X-CrisisDesk-Signature": header, "content-type": "application/json"}


async def dispatched(
    stack: Stack, program: DemoProgram, resource_id: str
) -> tuple[dict[str, Any], str]:
    incident = await open_incident(stack, program, "psychosis")
    await decide(stack, program, incident["id"], JUDGED_HIGH)
    state = await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "dispatch",
            "service": "mobile_crisis",
            "resource_id": resource_id,
            "reason": "Not safe alone, refuses ER",
        },
    )
    return incident, str(state["dispatches"][0]["dispatch_id"])


async def test_packet_reaches_the_provider_signed_and_callbacks_advance_the_dispatch(
    dispatch_stack: Stack,
    program: DemoProgram,
    webhook_receiver: WebhookReceiver,
) -> None:
    stack = dispatch_stack
    resource_id = await mobile_crisis(stack, program)
    incident, dispatch_id = await dispatched(stack, program, resource_id)

    async def packet() -> bool:
        return len(webhook_receiver.received) == 1

    await eventually(packet, "the dispatch packet at the provider")
    arrived = webhook_receiver.received[0]
    header = arrived.headers["X-CrisisDesk-Signature"]
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert header == sign(SECRET, stamp, arrived.body)
    body = arrived.json()
    assert body["dispatch_id"] == dispatch_id
    assert body["client"] == {"name": "Ana Ruiz", "callback_number": "+15035550100"}
    assert body["location"] == {"zip": "97201"}
    assert body["risk_level"] == "high"
    assert body["resource"]["name"] == "Multnomah County Mobile Crisis"
    assert any("assessment" in line for line in body["done_so_far"])

    event = {
        "event_id": f"evt-{uuid.uuid4()}",
        "incident_id": incident["id"],
        "dispatch_id": dispatch_id,
        "status": "en_route",
        "eta_minutes": 20,
    }
    raw, headers = signed(event)
    first = await stack.http.post("/v1/callbacks/dispatch", content=raw, headers=headers)
    assert first.status_code == 200, first.text
    replayed = await stack.http.post("/v1/callbacks/dispatch", content=raw, headers=headers)
    assert replayed.status_code == 409
    forged = await stack.http.post(
        "/v1/callbacks/dispatch",
        content=raw,
        headers={
            **headers,
            "X-CrisisDesk-Signature": headers["X-CrisisDesk-Signature"][:-2] + "00",
        },
    )
    assert forged.status_code == 401
    stale_raw, stale = signed({**event, "event_id": f"evt-{uuid.uuid4()}"}, time.time() - 3600)
    assert (
        await stack.http.post("/v1/callbacks/dispatch", content=stale_raw, headers=stale)
    ).status_code == 401

    detail = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=program.auth(Role.CLINICIAN)
    )
    dispatch = detail.json()["dispatches"][0]
    assert dispatch["status"] == "en_route"
    assert dispatch["eta_minutes"] == 20
    updates = [d for d in detail.json()["decisions"] if d["kind"] == "dispatch_update"]
    assert len(updates) == 1
    assert updates[0]["actor_id"] == "dispatch-provider"


async def test_an_unconfirmed_dispatch_is_resent_and_the_supervisor_paged(
    dispatch_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    webhook_receiver: WebhookReceiver,
) -> None:
    stack = dispatch_stack
    incident, _ = await dispatched(stack, program, await mobile_crisis(stack, program))
    await ts_env.sleep(CONFIRM_WINDOW + timedelta(seconds=5))

    async def resent() -> bool:
        return len(webhook_receiver.received) >= 2

    await eventually(resent, "the packet sent again")
    assert webhook_receiver.received[1].json()["attempt"] == 2
    detail = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=program.auth(Role.SUPERVISOR)
    )
    reasons = [p["reason"] for p in detail.json()["pages"]]
    assert reasons == ["dispatch not confirmed en route; re-sent to the provider"]


async def test_a_confirmed_dispatch_does_not_escalate(
    dispatch_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    webhook_receiver: WebhookReceiver,
) -> None:
    stack = dispatch_stack
    incident, dispatch_id = await dispatched(stack, program, await mobile_crisis(stack, program))
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "dispatch_update",
            "dispatch_id": dispatch_id,
            "status": "en_route",
            "eta_minutes": 15,
        },
    )
    await ts_env.sleep(CONFIRM_WINDOW * 4)
    detail = await stack.http.get(
        f"/v1/incidents/{incident['id']}", headers=program.auth(Role.SUPERVISOR)
    )
    assert detail.json()["pages"] == []
    assert len(webhook_receiver.received) == 1


async def test_dispatch_needs_a_location_and_a_directory_resource(
    dispatch_stack: Stack, program: DemoProgram
) -> None:
    stack = dispatch_stack
    incident = await open_incident(stack, program, "medical", location=None)
    no_location = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "dispatch", "service": "911", "reason": "Chest pain", "reference": "PSAP-1"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert no_location.status_code == 409
    assert no_location.json()["field"] == "location"
    no_resource = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={
            "kind": "dispatch",
            "service": "mobile_crisis",
            "reason": "Agitated",
            "location": {"zip": "97201"},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert no_resource.status_code == 409  # well formed, but this service needs a resource
    assert no_resource.json()["field"] == "resource_id"
    called = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={
            "kind": "dispatch",
            "service": "911",
            "reason": "Chest pain",
            "reference": "PSAP-1",
            "location": {"lat": 45.51, "lon": -122.68},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert called.status_code == 200, called.text
    assert called.json()["dispatches"][0]["reference"] == "PSAP-1"


async def test_a_callback_for_an_ended_incident_is_a_conflict_and_nul_text_is_refused(
    dispatch_stack: Stack, program: DemoProgram
) -> None:
    stack = dispatch_stack
    incident = await open_incident(stack, program, "psychosis")
    await decide(stack, program, incident["id"], {"kind": "cancel", "reason": "entered in error"})
    await stack.client.get_workflow_handle(incident["workflow_id"]).result()
    event = {
        "event_id": f"evt-{uuid.uuid4()}",
        "incident_id": incident["id"],
        "dispatch_id": str(uuid.uuid4()),
        "status": "en_route",
    }

    raw, headers = signed(event)
    late = await stack.http.post("/v1/callbacks/dispatch", content=raw, headers=headers)
    assert late.status_code == 409, late.text
    assert "ended" in late.json()["detail"]
    raw, headers = signed({**event, "destination": "Unity\u0000Center"})
    nul = await stack.http.post("/v1/callbacks/dispatch", content=raw, headers=headers)
    assert nul.status_code == 422, nul.text
    assert nul.json()["detail"].startswith("destination")


async def test_a_provider_refusing_the_packet_is_not_retried_and_a_person_takes_over(
    dispatch_stack: Stack,
    program: DemoProgram,
    webhook_receiver: WebhookReceiver,
) -> None:
    """SPEC 10.1: a permanent refusal (a 4xx the provider will answer again) is tried once; the
    incident shows it and the supervisor is paged to call the provider."""
    stack = dispatch_stack
    webhook_receiver.answer_next(422)
    incident, _ = await dispatched(stack, program, await mobile_crisis(stack, program))

    async def shown() -> dict[str, Any] | None:
        detail = await stack.http.get(
            f"/v1/incidents/{incident['id']}", headers=program.auth(Role.SUPERVISOR)
        )
        body: dict[str, Any] = detail.json()
        paged = [p for p in body["pages"] if "dispatch packet" in p["reason"]]
        return body if paged else None

    detail = await eventually(shown, "the supervisor paged about the packet")
    refused = [u for u in detail["unreachable"] if u["target"] == "dispatch_provider"]
    assert len(refused) == 1
    assert "PermanentDeliveryError" in refused[0]["reason"]
    assert len(webhook_receiver.received) == 1  # tried once, never again
