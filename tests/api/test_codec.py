"""The codec server (SPEC 10.4): the Temporal UI's remote codec, for supervisors only, CORS for
the UI's origin only, each decode audited, and nothing revealed that is not the caller's."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import EventType

from domain.models import AuditEvent
from domain.vocabulary import Role
from tests.helpers.console_pages import signed_in
from tests.helpers.problems import assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack

UI_ORIGIN = "http://127.0.0.1:8233"  # the default Temporal UI of `make run`
SUMMARY = "Heard voices telling him to walk into the river"


def plain(document: dict[str, Any]) -> dict[str, Any]:
    """A payload as the SDK's JSON converter writes it, before the codec."""
    return {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(document).encode()).decode(),
    }


def document_of(payload: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(payload["data"]))


def encoding_of(payload: dict[str, Any]) -> bytes:
    return base64.b64decode(payload["metadata"]["encoding"])


async def decode_events(
    sessions: async_sessionmaker[AsyncSession], actor: uuid.UUID, action: str = "codec_decode"
) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == action)
            .where(AuditEvent.actor_id == str(actor))
            .order_by(col(AuditEvent.seq))
        )
        return [row.detail for row in rows.all()]


async def opened_incident_input(stack: Stack, program: DemoProgram) -> tuple[str, dict[str, Any]]:
    """Open an incident through the API; its workflow input as the Temporal UI reads it."""
    opened = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "psychosis",
            "summary": SUMMARY,
            "location": {"zip": "97201"},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert opened.status_code == 201, opened.text
    incident_id = opened.json()["id"]
    raw = stack.client.get_workflow_handle(f"incident-{incident_id}")
    async for event in raw.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = event.workflow_execution_started_event_attributes
            return incident_id, MessageToDict(started.input.payloads[0])
    raise AssertionError("the workflow has no start event")


async def test_a_supervisor_round_trips_and_each_decode_is_audited(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    supervisor = program.auth(Role.SUPERVISOR)
    incident = str(uuid.uuid4())
    document = {"program_id": str(program.program.id), "incident_id": incident, "step": "x"}
    encoded = await stack.http.post(
        "/codec/encode", json={"payloads": [plain(document)]}, headers=supervisor
    )
    assert encoded.status_code == 200, encoded.text
    sealed = encoded.json()["payloads"][0]
    assert encoding_of(sealed) == b"binary/encrypted"
    assert "step" not in base64.b64decode(sealed["data"]).decode(errors="replace")
    [sealing] = await decode_events(sessions, program.staff[Role.SUPERVISOR].id, "codec_encode")
    assert sealing["payloads"] == 1  # sealing with our key is audited too

    decoded = await stack.http.post(
        "/codec/decode?preserveStorageRefs=true",
        json={"payloads": [sealed]},
        headers={**supervisor, "X-Namespace": stack.settings.temporal_namespace},
    )
    assert decoded.status_code == 200, decoded.text
    assert document_of(decoded.json()["payloads"][0]) == document
    [event] = await decode_events(sessions, program.staff[Role.SUPERVISOR].id)
    assert event["workflow_ids"] == [f"incident-{incident}"]
    assert event["payloads"] == event["revealed"] == 1


async def test_the_ui_shows_an_incidents_input_to_its_supervisor_only(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incident_id, sealed = await opened_incident_input(stack, program)
    assert SUMMARY not in json.dumps(sealed)
    ours = await stack.http.post(
        "/codec/decode", json={"payloads": [sealed]}, headers=program.auth(Role.SUPERVISOR)
    )
    assert ours.status_code == 200, ours.text
    assert document_of(ours.json()["payloads"][0])["summary"] == SUMMARY
    [event] = await decode_events(sessions, program.staff[Role.SUPERVISOR].id)
    assert event["workflow_ids"] == [f"incident-{incident_id}"]

    other = await make_program(sessions, "other")
    theirs = await stack.http.post(
        "/codec/decode", json={"payloads": [sealed]}, headers=other.auth(Role.SUPERVISOR)
    )
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["payloads"] == [sealed]  # still encrypted, exactly as sent
    [refusal] = await decode_events(sessions, other.staff[Role.SUPERVISOR].id)
    assert refusal["revealed"] == 0 and refusal["kept_encrypted"] == 1


async def test_a_payload_we_did_not_seal_comes_back_as_sent(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    forged = plain({"program_id": str(program.program.id), "incident_id": str(uuid.uuid4())})
    tampered = {**forged, "metadata": {"encoding": base64.b64encode(b"binary/encrypted").decode()}}
    decoded = await stack.http.post(
        "/codec/decode",
        json={"payloads": [forged, tampered]},
        headers=program.auth(Role.SUPERVISOR),
    )
    assert decoded.status_code == 200, decoded.text
    assert decoded.json()["payloads"] == [forged, tampered]
    [event] = await decode_events(sessions, program.staff[Role.SUPERVISOR].id)
    assert event["not_ours"] == 2 and event["revealed"] == 0


async def test_only_a_supervisor_of_our_namespace_may_call_it(
    stack: Stack, program: DemoProgram
) -> None:
    body = {"payloads": [plain({"program_id": str(program.program.id)})]}
    for path in ("/codec/decode", "/codec/encode"):
        assert_problem(await stack.http.post(path, json=body), 401)
        for role in (Role.CLINICIAN, Role.FOLLOWUP, Role.ADMIN):
            assert_problem(await stack.http.post(path, json=body, headers=program.auth(role)), 403)
        elsewhere = {**program.auth(Role.SUPERVISOR), "X-Namespace": "someone-elses"}
        assert_problem(await stack.http.post(path, json=body, headers=elsewhere), 403)


async def test_a_supervisors_console_session_decodes_from_the_ui_origin_only(
    stack: Stack, program: DemoProgram
) -> None:
    _, sealed = await opened_incident_input(stack, program)
    body = {"payloads": [sealed]}
    async with signed_in(stack, program, Role.SUPERVISOR) as browser:
        from_ui = await browser.post("/codec/decode", json=body, headers={"Origin": UI_ORIGIN})
        assert from_ui.status_code == 200, from_ui.text
        assert document_of(from_ui.json()["payloads"][0])["summary"] == SUMMARY
        from_elsewhere = {"Origin": "http://127.0.0.1:9999"}
        assert_problem(await browser.post("/codec/decode", json=body, headers=from_elsewhere), 403)
    async with signed_in(stack, program, Role.CLINICIAN) as browser:
        clinician = await browser.post("/codec/decode", json=body, headers={"Origin": UI_ORIGIN})
        assert_problem(clinician, 403)


async def test_cors_answers_the_temporal_ui_origin_and_no_other(stack: Stack) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    allowed = await stack.http.options("/codec/decode", headers={**preflight, "Origin": UI_ORIGIN})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "x-namespace" in allowed.headers["access-control-allow-headers"].lower()

    stranger = "http://evil.example"
    refused = await stack.http.options("/codec/decode", headers={**preflight, "Origin": stranger})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers

    answered = await stack.http.post("/codec/decode", json={}, headers={"Origin": UI_ORIGIN})
    assert answered.headers["access-control-allow-origin"] == UI_ORIGIN  # even a refusal
    foreign = await stack.http.post("/codec/decode", json={}, headers={"Origin": stranger})
    assert "access-control-allow-origin" not in foreign.headers
    elsewhere = await stack.http.options(
        "/v1/incidents", headers={**preflight, "Origin": UI_ORIGIN}
    )
    assert "access-control-allow-origin" not in elsewhere.headers


async def test_bad_payloads_are_422_not_500(stack: Stack, program: DemoProgram) -> None:
    supervisor = program.auth(Role.SUPERVISOR)
    bodies: list[dict[str, Any]] = [
        {"payloads": [{"metadata": {}, "data": "not base64!"}]},
        {"payloads": [{"data": "", "unknown": 1}]},
        {"payloads": [{"data": "a"}]},  # base64 of the right alphabet, the wrong length
        {"payloads": [{}] * 501},
    ]
    for body in bodies:
        answer = await stack.http.post("/codec/decode", json=body, headers=supervisor)
        assert_problem(answer, 422)


async def test_a_payload_that_names_no_program_stays_encrypted(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    supervisor = program.auth(Role.SUPERVISOR)
    for document in ({"note": "said he has a rope at home"}, {"incident_id": str(uuid.uuid4())}):
        encoded = await stack.http.post(
            "/codec/encode", json={"payloads": [plain(document)]}, headers=supervisor
        )
        sealed = encoded.json()["payloads"]
        decoded = await stack.http.post(
            "/codec/decode", json={"payloads": sealed}, headers=supervisor
        )
        assert decoded.status_code == 200, decoded.text
        assert decoded.json()["payloads"] == sealed
    events = await decode_events(sessions, program.staff[Role.SUPERVISOR].id)
    assert [event["kept_encrypted"] for event in events] == [1, 1]
