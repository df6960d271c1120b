"""No PHI in any log line of the real processes (SPEC 10.2): `crisisdesk api` and `crisisdesk
worker` run as OS processes on the Temporal dev server and PostgreSQL; their own stdout and
stderr are read after requests that carry a client's name, phone, notes and coordinates, an ack
link and a device token, and after statements PostgreSQL refuses with those values in them."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from domain.vocabulary import Role
from infra.ack_tokens import AckClaim, issue_ack_token
from infra.db import transaction
from infra.logging import EXCEPTION_MESSAGE_WITHHELD
from tests.fakes import HOST, free_port
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING
from tests.processes import ApiProcess, WorkerProcess, crisisdesk_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

ACK_KEY = base64.b64encode(os.urandom(32)).decode()
NEW_CLIENT = {"first_name": "Marisol", "last_name": "Quintero-Vance", "phone": "+15035550199"}
SUMMARY = "Took 30 pills of sertraline after her partner left"
SOS_POSITION = {"lat": 45.5231, "lon": -122.6765}
SEARCH_POSITION = {"lat": "45.5152", "lon": "-122.6784"}


class Deployment:
    def __init__(self, api: ApiProcess, worker: WorkerProcess, logs: list[Path]) -> None:
        self.api, self.worker, self.logs = api, worker, logs

    def output(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs)


@pytest_asyncio.fixture(loop_scope="session")
async def deployment(
    dev_env: WorkflowEnvironment, database_url: str, program: DemoProgram, tmp_path: Path
) -> AsyncIterator[Deployment]:
    port = free_port()
    fields: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "temporal_address": dev_env.client.service_client.config.target_host,
        "temporal_namespace": dev_env.client.namespace,
        "task_queue": f"e2e-{uuid.uuid4()}",
        "encryption_keys": KEYRING.render(),
        "ack_key": ACK_KEY,
        "api_host": HOST,
        "api_port": port,
        "public_url": f"http://{HOST}:{port}",
        "log_format": "json",
        "log_level": "DEBUG",
    }
    env = crisisdesk_env(fields)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    api, worker = ApiProcess(env, logs[0]), WorkerProcess(env, logs[1])
    worker.start()
    api.start()
    try:
        await asyncio.to_thread(api.wait_ready)
        yield Deployment(api, worker, logs)
    finally:
        api.stop()
        worker.stop()


async def _refuse_in_postgresql(sessions: async_sessionmaker[AsyncSession], client_id: str) -> None:
    """Triggers that make PostgreSQL refuse, with the values in the statement: a new client
    named Marisol, and every write of the demo client's incident rows (the worker's case file)."""
    async with transaction(sessions) as session:
        for statement in (
            "CREATE FUNCTION refuse_row() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_marisol BEFORE INSERT ON client FOR EACH ROW "
            "WHEN (NEW.first_name = 'Marisol') EXECUTE FUNCTION refuse_row()",
            "CREATE TRIGGER refuse_incident BEFORE INSERT OR UPDATE ON incident FOR EACH ROW "
            f"WHEN (NEW.client_id = '{client_id}') EXECUTE FUNCTION refuse_row()",
        ):
            await session.exec(text(statement))  # type: ignore[call-overload]


async def _requests_with_phi(http: httpx.AsyncClient, program: DemoProgram) -> dict[str, str]:
    """Requests a crisis day makes; answers the secrets they carried."""
    admin, clinician = program.auth(Role.ADMIN), program.auth(Role.CLINICIAN)
    refused = await http.post("/v1/clients", json=NEW_CLIENT, headers=admin)
    assert refused.status_code >= 400, refused.text  # PostgreSQL refused the row
    opened = await http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "overdose",
            "summary": SUMMARY,
            "location": {"address": "1120 SW 5th Ave, Portland"},
        },
        headers=clinician,
    )
    assert opened.status_code == 201, opened.text
    incident_id = opened.json()["id"]
    noted = await http.post(
        f"/v1/incidents/{incident_id}/decisions",
        json={"kind": "note", "text": "Partner Joaquin found her; lives alone otherwise"},
        headers=clinician,
    )
    assert noted.status_code == 200, noted.text
    device = await http.post(
        f"/v1/clients/{program.client.id}/devices", json={"label": "phone"}, headers=admin
    )
    assert device.status_code == 201, device.text
    device_token = device.json()["token"]
    pressed = await http.post(
        "/v1/sos", json=SOS_POSITION, headers={"Authorization": f"Bearer {device_token}"}
    )
    assert pressed.status_code in (201, 202), pressed.text
    ack_token = issue_ack_token(
        base64.b64decode(ACK_KEY),
        AckClaim(
            incident_id=uuid.UUID(incident_id),
            ladder_id=uuid.uuid4(),
            recipient_id=uuid.uuid4(),
            channel="sms",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        ),
    )
    page = await http.get(f"/v1/acks/{ack_token}")
    assert page.status_code == 200, page.text
    nearby = await http.get("/v1/resources/nearby", params=SEARCH_POSITION, headers=clinician)
    assert nearby.status_code == 200, nearby.text
    return {"ack_token": ack_token, "device_token": device_token, "incident_id": incident_id}


async def test_no_log_line_of_the_api_or_the_worker_carries_phi_or_a_token(
    deployment: Deployment,
    program: DemoProgram,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _refuse_in_postgresql(sessions, str(program.client.id))
    async with httpx.AsyncClient(base_url=deployment.api.url, timeout=60) as http:
        secrets = await _requests_with_phi(http, program)

    async def worker_logged_the_refused_case_file() -> bool:
        # Temporal's "Completing activity as failed", without a message that may quote the error.
        withheld = f"temporalio.activity: {EXCEPTION_MESSAGE_WITHHELD}"
        return f'"event": "{withheld}"' in deployment.output()

    # The worker's projection of the incident was refused by PostgreSQL, and logged.
    await eventually(worker_logged_the_refused_case_file, "the refused projection", tries=3000)
    deployment.api.stop()
    deployment.worker.stop()
    output = deployment.output()

    forbidden = [
        *NEW_CLIENT.values(),
        "Quintero",
        program.client.first_name + " " + program.client.last_name,
        str(program.client.phone),
        "sertraline",
        "Joaquin",
        "lives alone",
        "SW 5th Ave",
        "45.5231",
        "122.6765",
        "45.5152",
        "122.6784",
        secrets["ack_token"],
        secrets["ack_token"].split(".")[1],
        secrets["device_token"],
    ]
    leaks = [
        (phi, line) for line in output.splitlines() for phi in forbidden if phi and phi in line
    ]
    assert not leaks, leaks
    assert '"event": "http.request"' in output  # the access log is kept, without its secrets
    assert f'"path": "/v1/incidents/{secrets["incident_id"]}/decisions"' in output
