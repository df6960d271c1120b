"""The emergency-contact ladder end to end: decision -> child workflow -> real channels.

Time-skipping server for the windows; a real SMTP server (aiosmtpd) and a local server that
answers as Twilio's REST API does, so messages are counted where they arrive.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.models import Staff
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from infra.ack_tokens import AckClaim, issue_ack_token
from infra.db import transaction
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.helpers.incidents import decide, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack, stack_app_secret
from tests.workflows.scenarios import CSSRS_MODERATE

ACK_WINDOW = protocol_for(CrisisType.SUICIDAL_IDEATION).contact_ack_window


async def add_contact(
    stack: Stack, program: DemoProgram, name: str, priority: int, **fields: Any
) -> str:
    body = {"name": name, "relationship": "sibling", "kind": "personal", "priority": priority}
    response = await stack.http.post(
        f"/v1/clients/{program.client.id}/contacts",
        json={**body, **fields},
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_consent(stack: Stack, program: DemoProgram, contact_id: str, kind: str) -> None:
    response = await stack.http.post(
        f"/v1/clients/{program.client.id}/consents",
        json={"kind": kind, "contact_id": contact_id, "expires_at": "2099-01-01T00:00:00Z"},
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text


async def incident_detail(stack: Stack, program: DemoProgram, incident_id: str) -> dict[str, Any]:
    response = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.SUPERVISOR)
    )
    assert response.status_code == 200
    return dict(response.json())


async def ladder_status(stack: Stack, program: DemoProgram, incident_id: str, status: str) -> Any:
    async def reached() -> dict[str, Any] | None:
        ladders = (await incident_detail(stack, program, incident_id))["ladders"]
        return ladders[0] if ladders and ladders[0]["status"] == status else None

    return await eventually(reached, f"ladder {status}")


async def count_at_least(counter: Any, n: int, what: str) -> None:
    async def enough() -> bool:
        return len(counter()) >= n

    await eventually(enough, what)


async def test_the_ladder_moves_on_to_the_second_contact_and_then_pages(
    channels_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
) -> None:
    stack = channels_stack
    sister = await add_contact(
        stack,
        program,
        "Lia Ruiz",
        1,
        phone="+15035550101",
        email="lia@example.org",
        channels=["sms", "email"],
    )
    friend = await add_contact(
        stack, program, "Sam Ortiz", 2, phone="+15035550199", channels=["sms"]
    )
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(stack, program, incident["id"], CSSRS_MODERATE)  # no assessment pages
    state = await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [friend, sister],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
    )
    assert state["stage"] == "responding"
    assert [str(c) for c in state["ladders"][0]["recipient_ids"]] == [sister, friend]

    await count_at_least(lambda: fake_twilio.messages, 1, "the sister's SMS")
    first = fake_twilio.messages[0].form
    assert first["To"] == "+15035550101"
    assert "http://crisisdesk.test/v1/acks/" in first["Body"]
    assert "suicid" not in first["Body"].lower()

    await ts_env.sleep(ACK_WINDOW + timedelta(seconds=5))
    await count_at_least(lambda: smtp_sink.messages, 1, "the sister's email")
    assert smtp_sink.messages[0]["To"] == "lia@example.org"

    await ts_env.sleep(ACK_WINDOW + timedelta(seconds=5))
    await count_at_least(lambda: fake_twilio.messages, 2, "the friend's SMS")
    assert fake_twilio.messages[1].form["To"] == "+15035550199"

    await ts_env.sleep(ACK_WINDOW + timedelta(seconds=5))
    ladder = await ladder_status(stack, program, incident["id"], "exhausted")
    assert ladder["acknowledged_by"] is None
    detail = await incident_detail(stack, program, incident["id"])
    pages = [n for n in detail["notifications"] if n["purpose"] == "page"]
    assert len(pages) == 1
    assert len(fake_twilio.messages) == 2
    assert len(smtp_sink.messages) == 1


async def test_an_smtp_outage_falls_over_to_the_next_channel(
    channels_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
) -> None:
    stack = channels_stack
    sister = await add_contact(
        stack,
        program,
        "Lia Ruiz",
        1,
        phone="+15035550101",
        email="lia@example.org",
        channels=["email", "sms"],
    )
    smtp_sink.stop()
    incident = await open_incident(stack, program, "panic")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [sister],
            "basis": "incapacity",
            "justification": "Told us she is not safe tonight",
        },
    )
    # The email provider stays down through every retry; the ladder goes on to SMS.
    await ts_env.sleep(timedelta(minutes=2))
    await count_at_least(lambda: fake_twilio.messages, 1, "the SMS after the email failed")
    detail = await incident_detail(stack, program, incident["id"])
    attempts = {n["channel"]: n for n in detail["notifications"] if n["purpose"] != "page"}
    assert attempts["email"]["status"] == "failed"
    assert attempts["email"]["error"].startswith("temporary")
    assert attempts["sms"]["status"] in ("queued", "sent")
    assert smtp_sink.messages == []


async def test_opening_an_ack_link_acknowledges_nothing_and_its_button_stops_the_ladder(
    channels_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    fake_twilio: FakeTwilio,
    smtp_sink: SmtpSink,
) -> None:
    """A mail scanner or link preview opens the link: the ladder goes on to the next rung. Only
    the page's button, a POST, acknowledges."""
    stack = channels_stack
    sister = await add_contact(
        stack,
        program,
        "Lia Ruiz",
        1,
        phone="+15035550101",
        email="lia@example.org",
        channels=["sms", "email"],
    )
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [sister],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
    )
    await count_at_least(lambda: fake_twilio.messages, 1, "the SMS")
    link = next(w for w in fake_twilio.messages[0].form["Body"].split() if "/v1/acks/" in w)
    path = link.removeprefix("http://crisisdesk.test")

    opened = await stack.http.get(path)
    assert opened.status_code == 200, opened.text
    assert opened.headers["content-type"].startswith("text/html")
    assert opened.headers["cache-control"] == "no-store"
    assert '<form method="post">' in opened.text
    assert "I got the message" in opened.text
    assert "Lia" not in opened.text
    assert "suicid" not in opened.text.lower()
    await stack.http.get(path)  # a second scanner, or the person looking twice

    await ts_env.sleep(ACK_WINDOW + timedelta(seconds=5))
    await count_at_least(lambda: smtp_sink.messages, 1, "the email: the next rung")
    ladder = (await incident_detail(stack, program, incident["id"]))["ladders"][0]
    assert ladder["status"] == "running"
    assert ladder["acknowledged_by"] is None

    # The page's button: a form post with no fields, as a browser sends it.
    pressed = await stack.http.post(
        path, content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert pressed.status_code == 200, pressed.text
    assert pressed.headers["content-type"].startswith("text/html")
    assert "Thank you, acknowledged" in pressed.text
    ladder = await ladder_status(stack, program, incident["id"], "acknowledged")
    assert str(ladder["acknowledged_by"]) == sister
    assert ladder["acknowledged_via"] == "link:sms"
    await ts_env.sleep(ACK_WINDOW * 5)
    assert len(fake_twilio.messages) == 1
    assert len(smtp_sink.messages) == 1

    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    expired = "/v1/acks/" + issue_ack_token(
        stack_app_secret(stack),
        AckClaim(
            incident_id=UUID(incident["id"]),
            ladder_id=uuid4(),
            recipient_id=UUID(sister),
            channel="sms",
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        ),
    )
    for refused in (
        await stack.http.get(forged),
        await stack.http.post(forged),
        await stack.http.get(expired),
        await stack.http.post(expired),
    ):
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert "expired" in (await stack.http.get(expired)).json()["detail"]


async def test_an_api_client_acknowledges_with_a_post_and_gets_json(
    channels_stack: Stack,
    program: DemoProgram,
    fake_twilio: FakeTwilio,
) -> None:
    stack = channels_stack
    sister = await add_contact(
        stack, program, "Lia Ruiz", 1, phone="+15035550101", channels=["sms"]
    )
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [sister],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
    )
    await count_at_least(lambda: fake_twilio.messages, 1, "the SMS")
    link = next(w for w in fake_twilio.messages[0].form["Body"].split() if "/v1/acks/" in w)
    acked = await stack.http.post(link.removeprefix("http://crisisdesk.test"), json={})
    assert acked.status_code == 200, acked.text
    assert acked.headers["content-type"].startswith("application/json")
    assert acked.json()["status"] == "acknowledged"
    ladder = await ladder_status(stack, program, incident["id"], "acknowledged")
    assert str(ladder["acknowledged_by"]) == sister


async def test_part2_refuses_family_without_written_consent_and_documents_medical_disclosure(
    channels_stack: Stack,
    program: DemoProgram,
    fake_twilio: FakeTwilio,
) -> None:
    stack = channels_stack
    mother = await add_contact(
        stack, program, "Grace Okafor", 1, phone="+15035550111", channels=["sms"]
    )
    doctor = await add_contact(
        stack,
        program,
        "Dr. Priya Patel",
        2,
        phone="+15035550102",
        channels=["voice"],
        kind="medical",
        facility="Willamette Clinic",
    )
    await add_consent(stack, program, mother, "contact_disclosure")  # not a Part 2 consent
    incident = await open_incident(stack, program, "overdose")
    refused = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={
            "kind": "notify_contacts",
            "contact_ids": [mother],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert refused.status_code == 409
    assert "part2_written_consent_required" in refused.json()["code"]
    assert "42 CFR" in refused.json()["detail"]

    state = await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [doctor],
            "basis": "medical_emergency",
            "emergency_nature": "suspected opioid overdose, slowed breathing",
        },
    )
    record = state["part2_disclosures"][0]
    assert record["medical_personnel"] == "Dr. Priya Patel"
    assert record["facility"] == "Willamette Clinic"
    assert record["disclosed_by"] == str(program.staff[Role.CLINICIAN].id)
    await count_at_least(lambda: fake_twilio.calls, 1, "the voice call to the physician")
    assert fake_twilio.messages == []

    await add_consent(stack, program, mother, "part2")
    allowed = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "notify_contacts", "contact_ids": [mother], "basis": "consent"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert allowed.status_code == 200, allowed.text


async def test_an_sms_reply_of_yes_stops_the_ladder_and_status_callbacks_are_tracked(
    channels_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    fake_twilio: FakeTwilio,
    smtp_sink: SmtpSink,
) -> None:
    from twilio.request_validator import RequestValidator

    stack = channels_stack
    sister = await add_contact(
        stack,
        program,
        "Lia Ruiz",
        1,
        phone="+15035550101",
        email="lia@example.org",
        channels=["sms", "email"],
    )
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [sister],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
    )
    await count_at_least(lambda: fake_twilio.messages, 1, "the SMS")
    delivered = await fake_twilio.send_status(fake_twilio.messages[0], "delivered", http=stack.http)
    assert delivered.status_code == 204
    detail = await incident_detail(stack, program, incident["id"])
    assert [n["status"] for n in detail["notifications"]] == ["delivered"]

    url = "http://crisisdesk.test/v1/callbacks/twilio/sms"
    reply = {"From": "+15035550101", "To": fake_twilio.from_number, "Body": " Yes "}
    forged = await stack.http.post(
        url, data=reply, headers={"X-Twilio-Signature": "not-a-signature"}
    )
    assert forged.status_code == 403
    signature = RequestValidator(fake_twilio.auth_token).compute_signature(url, reply)
    answered = await stack.http.post(url, data=reply, headers={"X-Twilio-Signature": signature})
    assert answered.status_code == 200
    ladder = await ladder_status(stack, program, incident["id"], "acknowledged")
    assert ladder["acknowledged_via"] == "sms_reply"
    await ts_env.sleep(ACK_WINDOW * 3)
    assert smtp_sink.messages == []


async def test_an_ack_after_the_incident_ended_is_a_conflict_and_an_sms_reply_is_a_no_op(
    channels_stack: Stack,
    program: DemoProgram,
    fake_twilio: FakeTwilio,
) -> None:
    from twilio.request_validator import RequestValidator

    stack = channels_stack
    sister = await add_contact(
        stack, program, "Lia Ruiz", 1, phone="+15035550101", channels=["sms"]
    )
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [sister],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
    )
    await count_at_least(lambda: fake_twilio.messages, 1, "the SMS")
    close = {"kind": "close", "reason": "reached the client by phone"}
    await decide(stack, program, incident["id"], close, role=Role.SUPERVISOR)
    await stack.client.get_workflow_handle(incident["workflow_id"]).result()

    link = next(w for w in fake_twilio.messages[0].form["Body"].split() if "/v1/acks/" in w)
    late = await stack.http.post(link.removeprefix("http://crisisdesk.test"))
    assert late.status_code == 409, late.text
    assert late.headers["content-type"].startswith("application/problem+json")
    assert "ended" in late.json()["detail"]

    url = "http://crisisdesk.test/v1/callbacks/twilio/sms"
    reply = {"From": "+15035550101", "To": fake_twilio.from_number, "Body": "yes"}
    signature = RequestValidator(fake_twilio.auth_token).compute_signature(url, reply)
    answered = await stack.http.post(url, data=reply, headers={"X-Twilio-Signature": signature})
    assert answered.status_code == 200, answered.text
    assert answered.text == "<Response/>"


def _keypress_url(call_twiml: str) -> str:
    """The Gather action of a call's TwiML: where Twilio posts the digit pressed."""
    action = re.search(r'action="([^"]+)"', call_twiml)
    assert action is not None, call_twiml
    return html.unescape(action.group(1))


async def _press(stack: Stack, fake_twilio: FakeTwilio, url: str, digit: str) -> Any:
    from twilio.request_validator import RequestValidator

    form = {"Digits": digit, "CallSid": "CA123"}
    signature = RequestValidator(fake_twilio.auth_token).compute_signature(url, form)
    return await stack.http.post(
        url.removeprefix("http://crisisdesk.test"),
        data=form,
        headers={"X-Twilio-Signature": signature},
    )


async def test_pressing_1_on_the_call_acknowledges_the_contact_and_stops_the_ladder(
    channels_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    fake_twilio: FakeTwilio,
    smtp_sink: SmtpSink,
) -> None:
    stack = channels_stack
    sister = await add_contact(
        stack,
        program,
        "Lia Ruiz",
        1,
        phone="+15035550101",
        email="lia@example.org",
        channels=["voice", "email"],
    )
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [sister],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
    )
    await count_at_least(lambda: fake_twilio.calls, 1, "the call")
    url = _keypress_url(fake_twilio.calls[0].form["Twiml"])
    other_key = await _press(stack, fake_twilio, url, "5")
    assert other_key.status_code == 200
    assert "Thank you" not in other_key.text
    pressed = await _press(stack, fake_twilio, url, "1")
    assert pressed.status_code == 200
    assert "Thank you" in pressed.text
    ladder = await ladder_status(stack, program, incident["id"], "acknowledged")
    assert ladder["acknowledged_via"] == "voice_keypress"
    await ts_env.sleep(ACK_WINDOW * 3)
    # The email rung is never reached (staff pages may arrive by email; none to her).
    assert [m for m in smtp_sink.messages if m["To"] == "lia@example.org"] == []


async def test_a_paged_supervisor_pressing_1_acknowledges_the_page(
    channels_stack: Stack,
    program: DemoProgram,
    fake_twilio: FakeTwilio,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The on-call supervisor texted STOP (21610): the page falls back to a call; a key press
    on it acknowledges the page (it belongs to no ladder)."""
    stack = channels_stack
    async with transaction(sessions) as session:
        supervisor = await session.get(Staff, program.staff[Role.SUPERVISOR].id)
        assert supervisor is not None
        supervisor.phone = "+15035550199"
    fake_twilio.refuse("+15035550199", 21610, kind="message")
    incident = await open_incident(stack, program, "panic")
    await decide(stack, program, incident["id"], {"kind": "escalate", "reason": "Second opinion"})
    await count_at_least(lambda: fake_twilio.calls, 1, "the page's call")
    pressed = await _press(
        stack, fake_twilio, _keypress_url(fake_twilio.calls[0].form["Twiml"]), "1"
    )
    assert pressed.status_code == 200
    assert "acknowledged" in pressed.text

    async def acknowledged() -> list[dict[str, Any]] | None:
        notes = (await incident_detail(stack, program, incident["id"]))["notifications"]
        found = [n for n in notes if n["channel"] == "voice" and n["status"] == "acknowledged"]
        return found or None

    await eventually(acknowledged, "the page acknowledged")
    detail = await incident_detail(stack, program, incident["id"])
    refused = [u for u in detail["unreachable"] if u["channel"] == "sms"]
    assert refused and "21610" in refused[0]["reason"]
