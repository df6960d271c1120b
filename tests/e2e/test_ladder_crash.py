"""A worker killed (SIGKILL) while a text to a family member is in flight never texts twice:
the restarted worker finds the attempt of unknown outcome, does not resend, and the ladder moves
on to the next channel. Counted at the servers: a local Twilio-compatible API and aiosmtpd."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.vocabulary import Role
from infra.settings import Settings
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING, encrypted_client
from tests.processes import WorkerProcess, crisisdesk_env
from tests.workflows.scenarios import CSSRS_MODERATE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


@pytest_asyncio.fixture(loop_scope="session")
async def ladder_world(
    dev_env: WorkflowEnvironment,
    database_url: str,
    tmp_path: Path,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
) -> AsyncIterator[tuple[WorkerProcess, httpx.AsyncClient]]:
    fields: dict[str, Any] = {
        **smtp_sink.settings_fields(),
        **fake_twilio.settings_fields(),
        "database_url": database_url,
        "data_dir": tmp_path,
        "temporal_address": dev_env.client.service_client.config.target_host,
        "temporal_namespace": dev_env.client.namespace,
        "task_queue": f"e2e-{uuid.uuid4()}",
        "encryption_keys": KEYRING.render(),
        "public_url": "http://crisisdesk.test",
    }
    settings = Settings(**fields)
    env = crisisdesk_env(fields)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    app = create_app(settings, temporal=encrypted_client(dev_env))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://e2e", timeout=60
    ) as http:
        yield worker, http
    worker.stop()
    await app.state.runtime.close()


async def test_killed_worker_mid_send_never_texts_twice(
    ladder_world: tuple[WorkerProcess, httpx.AsyncClient],
    program: DemoProgram,
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
) -> None:
    worker, http = ladder_world
    clinician = program.auth(Role.CLINICIAN)
    contact = await http.post(
        f"/v1/clients/{program.client.id}/contacts",
        json={
            "name": "Lia Ruiz",
            "relationship": "sister",
            "kind": "personal",
            "phone": "+15035550101",
            "email": "lia@example.org",
            "channels": ["sms", "email"],
        },
        headers=program.auth(Role.ADMIN),
    )
    assert contact.status_code == 201, contact.text
    opened = await http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "suicidal_ideation",
            "summary": "Stopped answering mid-session",
        },
        headers=clinician,
    )
    incident = opened.json()
    decisions = f"/v1/incidents/{incident['id']}/decisions"
    assert (await http.post(decisions, json=CSSRS_MODERATE, headers=clinician)).status_code == 200

    fake_twilio.stall_next(20)  # Twilio takes the text, and its answer never reaches the worker
    notified = await http.post(
        decisions,
        json={
            "kind": "notify_contacts",
            "contact_ids": [contact.json()["id"]],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        },
        headers=clinician,
    )
    assert notified.status_code == 200, notified.text

    async def text_in_flight() -> bool:
        return len(fake_twilio.messages) == 1

    await eventually(text_in_flight, "the text reaching Twilio", tries=1000)
    worker.kill()
    worker.start()

    async def email_arrived() -> bool:
        return len(smtp_sink.messages) == 1

    await eventually(email_arrived, "the ladder moving on to email", tries=2500)
    assert len(fake_twilio.messages) == 1  # never resent
    detail = await http.get(f"/v1/incidents/{incident['id']}", headers=clinician)
    attempts = {n["channel"]: n for n in detail.json()["notifications"] if n["purpose"] != "page"}
    assert attempts["sms"]["status"] == "failed"
    assert "unknown" in attempts["sms"]["error"]
    assert attempts["email"]["status"] == "sent"
