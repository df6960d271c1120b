"""While no worker runs (all restarting), an incident just opened exists but cannot answer: the
API says 503, retry, never 404 "no such incident", and the incident answers once a worker is up.
Found by the worker-kill drill: a clinician was told their new incident did not exist."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.vocabulary import Role
from infra.settings import Settings
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING, encrypted_client
from worker import build_worker

pytestmark = [pytest.mark.e2e]


async def test_an_incident_no_worker_has_taken_yet_is_503_not_404(
    dev_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
    tmp_path: Path,
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        temporal_address=dev_env.client.service_client.config.target_host,
        task_queue=f"nobody-polls-{uuid.uuid4()}",
        encryption_keys=KEYRING.render(),
    )
    client = encrypted_client(dev_env)
    app = create_app(settings, temporal=client)
    clinician = program.auth(Role.CLINICIAN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30
    ) as http:
        opened = await http.post(
            "/v1/incidents",
            json={
                "client_id": str(program.client.id),
                "crisis_type": "panic",
                "summary": "Panic attack during group",
            },
            headers=clinician,
        )
        assert opened.status_code == 201, opened.text
        path = f"/v1/incidents/{opened.json()['id']}"

        waiting = await http.get(path, headers=clinician)
        assert waiting.status_code == 503, waiting.text
        assert waiting.headers["content-type"].startswith("application/problem+json")
        assert "retry-after" in waiting.headers
        assert "worker" in waiting.json()["detail"]
        # An id with no incident behind it is still a 404.
        other = await http.get(f"/v1/incidents/{uuid.uuid4()}", headers=clinician)
        assert other.status_code == 404

        async with build_worker(client, settings=settings, sessions=sessions):
            answered = await http.get(path, headers=clinician)
            assert answered.status_code == 200, answered.text
            assert answered.json()["stage"] == "open"
    await app.state.runtime.close()
