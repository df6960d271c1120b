"""A revoked consent stops a running contact ladder (SPEC 10.2): the ladder re-reads the consent
before each message, sends nothing more to the contact whose disclosure rested on it, records the
rung as stopped (`consent_revoked`, on the incident) and moves on to the next contact.

Time-skipping server for the ack windows; messages are counted where they arrive (a real SMTP
server and a local server that answers as Twilio's REST API does).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CIWA_SEVERE

ACK_WINDOW = protocol_for(CrisisType.WITHDRAWAL).contact_ack_window
WIFE_PHONE, BROTHER_PHONE = "+15035550131", "+15035550132"


async def contact_with_part2_consent(
    stack: Stack, program: DemoProgram, name: str, priority: int, **fields: Any
) -> tuple[str, str]:
    contact = await stack.http.post(
        f"/v1/clients/{program.client.id}/contacts",
        json={"name": name, "relationship": "family", "kind": "personal", "priority": priority}
        | fields,
        headers=program.auth(Role.ADMIN),
    )
    assert contact.status_code == 201, contact.text
    consent = await stack.http.post(
        f"/v1/clients/{program.client.id}/consents",
        json={"kind": "part2", "contact_id": contact.json()["id"]},
        headers=program.auth(Role.ADMIN),
    )
    assert consent.status_code == 201, consent.text
    return str(contact.json()["id"]), str(consent.json()["id"])


async def test_a_revoked_consent_stops_the_ladder_for_that_contact_and_it_moves_on(
    channels_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
) -> None:
    stack = channels_stack
    wife, wife_consent = await contact_with_part2_consent(
        stack,
        program,
        "Rosa Ruiz",
        1,
        email="rosa@example.org",
        phone=WIFE_PHONE,
        channels=["email", "sms"],
    )
    brother, _ = await contact_with_part2_consent(
        stack, program, "Luis Ruiz", 2, phone=BROTHER_PHONE, channels=["sms"]
    )
    incident = await open_incident(stack, program, "withdrawal")
    await decide(stack, program, incident["id"], CIWA_SEVERE)
    told = await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [wife, brother],
            "basis": "serious_imminent_threat",
        },
    )
    assert told["ladders"][0]["recipient_ids"] == [wife, brother]

    async def emailed() -> bool:
        return len(smtp_sink.messages) == 1

    await eventually(emailed, "the wife's email, the ladder's first rung")
    revoked = await stack.http.post(
        f"/v1/clients/{program.client.id}/consents/{wife_consent}/revoke",
        json={"reason": "Client withdrew consent for his wife"},
        headers=program.auth(Role.CLINICIAN),
    )
    assert revoked.status_code == 200, revoked.text

    await ts_env.sleep(ACK_WINDOW + timedelta(seconds=5))

    async def brother_texted() -> bool:
        return any(m.form["To"] == BROTHER_PHONE for m in fake_twilio.messages)

    await eventually(brother_texted, "the ladder moving on to the brother")
    assert [m.form["To"] for m in fake_twilio.messages] == [BROTHER_PHONE]
    assert len(smtp_sink.messages) == 1

    async def stopped_rung() -> list[dict[str, Any]] | None:
        notes = (await detail(stack, program, incident["id"]))["notifications"]
        found = [n for n in notes if n["recipient_id"] == wife and n["channel"] == "sms"]
        return found or None

    [rung] = await eventually(stopped_rung, "the wife's stopped rung on the incident")
    assert (rung["status"], rung["error"]) == ("stopped", "consent_revoked")
    by_channel = {
        n["channel"]: n["status"]
        for n in (await detail(stack, program, incident["id"]))["notifications"]
        if n["recipient_id"] == wife
    }
    assert by_channel == {"email": "sent", "sms": "stopped"}
