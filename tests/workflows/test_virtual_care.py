"""Virtual-care emergencies: the client's SOS button, and the lost-connection protocol.

Pages and messages are counted where they arrive: a local Twilio-compatible API and aiosmtpd.
Windows run on the time-skipping server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.models import Client, Incident, Staff
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from infra.db import transaction
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack, running_stack

LOST_WINDOW = protocol_for(CrisisType.SUICIDAL_IDEATION).lost_contact_window
CLINICIAN_PHONE = "+15035550177"


@pytest_asyncio.fixture(loop_scope="session")
async def care_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
    program: DemoProgram,
) -> AsyncIterator[Stack]:
    async with transaction(sessions) as session:
        clinician = await session.get(Staff, program.staff[Role.CLINICIAN].id)
        assert clinician is not None
        clinician.on_call, clinician.phone = True, CLINICIAN_PHONE
        client = await session.get(Client, program.client.id)
        assert client is not None
        client.email = "ana@example.org"
    async with running_stack(
        ts_env,
        database_url,
        sessions,
        tmp_path,
        **smtp_sink.settings_fields(),
        **fake_twilio.settings_fields(),
        public_url="http://crisisdesk.test",
    ) as stack:
        yield stack


async def device_token(stack: Stack, program: DemoProgram) -> tuple[str, str]:
    response = await stack.http.post(
        f"/v1/clients/{program.client.id}/devices",
        json={"label": "Ana's phone"},
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"]), str(response.json()["id"])


def pages_to_clinician(fake: FakeTwilio) -> list[Any]:
    return [m for m in fake.messages if m.form["To"] == CLINICIAN_PHONE]


async def test_sos_opens_an_incident_and_pages_the_on_call_clinician(
    care_stack: Stack,
    program: DemoProgram,
    fake_twilio: FakeTwilio,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    stack = care_stack
    token, _ = await device_token(stack, program)
    await fake_twilio.down()  # the pager's provider is down: the client is answered anyway
    pressed = await stack.http.post(
        "/v1/sos",
        json={"lat": 45.5079, "lon": -122.6908},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert pressed.status_code == 201, pressed.text
    answer = pressed.json()
    assert answer["joined"] is False
    assert [n["phone"] for n in answer["crisis_numbers"]][:2] == ["911", "988"]
    assert "911" in answer["message"]
    assert pages_to_clinician(fake_twilio) == []  # answered before any page could go out

    await fake_twilio.up()

    async def paged() -> bool:
        return len(pages_to_clinician(fake_twilio)) >= 1

    await eventually(paged, "the page at the on-call clinician's phone", tries=1500)
    assert answer["incident_id"] in pages_to_clinician(fake_twilio)[0].form["Body"]

    again = await stack.http.post("/v1/sos", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 201
    assert again.json()["incident_id"] == answer["incident_id"]
    assert again.json()["joined"] is True
    detail = await stack.http.get(
        f"/v1/incidents/{answer['incident_id']}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.json()["owner"] == str(program.staff[Role.CLINICIAN].id)
    assert detail.json()["crisis_type"] == "other"
    assert detail.json()["origin"] == "sos"
    assert detail.json()["sos_presses"] == 2
    assert detail.json()["location"]["lat"] == 45.5079
    async with sessions() as session:
        assert len((await session.exec(select(Incident))).all()) <= 1


async def test_a_revoked_or_unknown_device_opens_nothing(
    care_stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stack = care_stack
    token, device_id = await device_token(stack, program)
    revoked = await stack.http.post(
        f"/v1/clients/{program.client.id}/devices/{device_id}/revoke",
        headers=program.auth(Role.ADMIN),
    )
    assert revoked.status_code == 200
    for bearer in (token, "cdk_not-a-device"):
        response = await stack.http.post("/v1/sos", headers={"Authorization": f"Bearer {bearer}"})
        assert response.status_code == 401
    staff_token = await stack.http.post("/v1/sos", headers=program.auth(Role.CLINICIAN))
    assert staff_token.status_code == 401
    async with sessions() as session:
        assert (await session.exec(select(Incident))).all() == []


async def lost_contact(stack: Stack, program: DemoProgram, risk: str) -> dict[str, Any]:
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "assessment",
            "instrument": "clinical_judgement",
            "risk_override": risk,
            "justification": "Judged on the call before it dropped",
        },
    )
    state = await decide(
        stack, program, incident["id"], {"kind": "contact_lost", "channel": "video"}
    )
    assert state["ladders"][0]["purpose"] == "lost_contact"
    assert state["contact_lost"] is True
    assert state["contact_lost_since"] is not None
    assert "contact_lost" in [t["name"] for t in state["pending_timers"]]
    return incident


async def detail_of(stack: Stack, program: DemoProgram, incident_id: str) -> dict[str, Any]:
    response = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.SUPERVISOR)
    )
    return dict(response.json())


async def test_silent_client_at_high_risk_requires_a_welfare_check(
    care_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    fake_twilio: FakeTwilio,
    smtp_sink: SmtpSink,
) -> None:
    stack = care_stack
    incident = await lost_contact(stack, program, "high")

    async def texted() -> bool:
        return any(m.form["To"] == "+15035550100" for m in fake_twilio.messages)

    await eventually(texted, "the text to the client themself")
    await ts_env.sleep(LOST_WINDOW + timedelta(seconds=5))

    async def escalated() -> dict[str, Any] | None:
        state = await detail_of(stack, program, incident["id"])
        return state if state["required_steps"] == ["dispatch"] else None

    state = await eventually(escalated, "the welfare check required")
    assert state["welfare_check_required"] is True
    reasons = [p["reason"] for p in state["pages"]]
    assert "contact with the client is lost and they have not been reached" in reasons
    assert len(fake_twilio.calls) == 1  # the ladder went on to call the client
    assert len(smtp_sink.messages) == 1  # and to email them


async def _client_clicks_the_link(stack: Stack, fake_twilio: FakeTwilio) -> None:
    async def texted() -> list[Any] | None:
        found = [m for m in fake_twilio.messages if m.form["To"] == "+15035550100"]
        return found or None

    text = (await eventually(texted, "the text to the client"))[0]
    link = next(w for w in text.form["Body"].split() if "/v1/acks/" in w)
    assert (await stack.http.post(link.removeprefix("http://crisisdesk.test"))).status_code == 200


async def test_the_client_acknowledging_ends_the_lost_contact_protocol_below_high_risk(
    care_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    fake_twilio: FakeTwilio,
) -> None:
    stack = care_stack
    incident = await lost_contact(stack, program, "moderate")
    await _client_clicks_the_link(stack, fake_twilio)
    await ts_env.sleep(LOST_WINDOW * 3)
    state = await detail_of(stack, program, incident["id"])
    assert state["contact_lost"] is False
    assert state["ladders"][0]["status"] == "acknowledged"
    assert [p for p in state["pages"] if "lost" in p["reason"]] == []
    assert "contact_lost" not in [t["name"] for t in state["pending_timers"]]


async def test_at_high_risk_the_clients_own_click_does_not_end_the_protocol(
    care_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    fake_twilio: FakeTwilio,
) -> None:
    """SPEC 10.1: the click is recorded, but only a clinician's contact_restored ends it; the
    window still runs out into a welfare check."""
    stack = care_stack
    incident = await lost_contact(stack, program, "high")
    await _client_clicks_the_link(stack, fake_twilio)
    clicked = await detail_of(stack, program, incident["id"])
    assert clicked["ladders"][0]["acknowledged_by"] == str(program.client.id)
    assert clicked["contact_lost"] is True
    await ts_env.sleep(LOST_WINDOW * 3)
    state = await detail_of(stack, program, incident["id"])
    assert state["welfare_check_required"] is True
    assert state["required_steps"] == ["dispatch"]
    assert [p for p in state["pages"] if "lost" in p["reason"]] != []


async def test_contact_restored_stops_the_ladder_and_the_timer(
    care_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    fake_twilio: FakeTwilio,
    smtp_sink: SmtpSink,
) -> None:
    stack = care_stack
    incident = await lost_contact(stack, program, "imminent")
    restored = await decide(
        stack, program, incident["id"], {"kind": "contact_restored", "how": "She called back"}
    )
    assert "contact_lost" not in [t["name"] for t in restored["pending_timers"]]
    await ts_env.sleep(LOST_WINDOW * 3)
    state = await detail_of(stack, program, incident["id"])
    assert state["ladders"][0]["status"] == "stopped"
    assert fake_twilio.calls == []
    assert smtp_sink.messages == []


async def test_a_press_after_the_sos_incident_was_cancelled_opens_a_new_one(
    care_stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A clinician cancels an SOS pressed by mistake; the client presses again for real, in the
    same join window: a new incident opens (it used to answer 503 and open nothing)."""
    stack = care_stack
    token, _ = await device_token(stack, program)
    device = {"Authorization": f"Bearer {token}"}
    first = await stack.http.post("/v1/sos", headers=device)
    assert first.status_code == 201, first.text
    cancelled = await stack.http.post(
        f"/v1/incidents/{first.json()['incident_id']}/decisions",
        json={"kind": "cancel", "reason": "Pressed by mistake, client confirmed safe"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert cancelled.status_code == 200, cancelled.text

    async def ended() -> bool:
        async with sessions() as session:
            row = await session.get(Incident, uuid.UUID(first.json()["incident_id"]))
        return row is not None and row.ended_at is not None

    await eventually(ended, "the cancelled SOS incident's projection")
    again = await stack.http.post("/v1/sos", headers=device)
    assert again.status_code == 201, again.text
    assert again.json()["joined"] is False
    assert again.json()["incident_id"] != first.json()["incident_id"]
    detail = await stack.http.get(
        f"/v1/incidents/{again.json()['incident_id']}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["stage"] == "open"
    assert detail.json()["origin"] == "sos"
