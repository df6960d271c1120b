"""The SOS button's rate limit is one for the deployment (SPEC 10.2): two `crisisdesk api`
processes on one PostgreSQL database, presses spread across both, meet the limit exactly where
one process would."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.vocabulary import Role
from infra.sos_rate_limit import RATE_LIMIT_PRESSES, RATE_LIMIT_WINDOW
from tests.fakes import HOST, free_port
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING
from tests.processes import ApiProcess, crisisdesk_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


@pytest_asyncio.fixture(loop_scope="session")
async def two_apis(
    dev_env: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[list[ApiProcess]]:
    apis = []
    for name in ("a", "b"):
        port = free_port()
        fields: dict[str, object] = {
            "database_url": database_url,
            "data_dir": tmp_path,
            "temporal_address": dev_env.client.service_client.config.target_host,
            "temporal_namespace": dev_env.client.namespace,
            "task_queue": f"e2e-{uuid.uuid4()}",
            "encryption_keys": KEYRING.render(),
            "api_host": HOST,
            "api_port": port,
            "public_url": f"http://{HOST}:{port}",
            "log_format": "json",
        }
        apis.append(ApiProcess(crisisdesk_env(fields), tmp_path / f"api-{name}.log"))
    try:
        for api in apis:
            api.start()
        for api in apis:
            await asyncio.to_thread(api.wait_ready)
        yield apis
    finally:
        for api in apis:
            api.stop()


async def _early_in_a_window() -> None:
    """Presses of one test fall in one window: start with most of a window ahead."""
    seconds = RATE_LIMIT_WINDOW.total_seconds()
    into = time.time() % seconds
    if into > seconds / 2:
        await asyncio.sleep(seconds - into + 0.2)


async def test_presses_spread_across_two_api_processes_meet_one_limit(
    two_apis: list[ApiProcess], program: DemoProgram
) -> None:
    first, second = two_apis
    async with httpx.AsyncClient(timeout=30) as http:
        device = await http.post(
            f"{first.url}/v1/clients/{program.client.id}/devices",
            json={"label": "phone"},
            headers=program.auth(Role.ADMIN),
        )
        assert device.status_code == 201, device.text
        pressing = {"Authorization": f"Bearer {device.json()['token']}"}
        await _early_in_a_window()
        statuses = []
        for press in range(RATE_LIMIT_PRESSES + 2):
            api = (first, second)[press % 2]
            answer = await http.post(f"{api.url}/v1/sos", json={}, headers=pressing)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                # Refused, the client's screen still shows whom to call.
                assert {n["phone"] for n in answer.json()["crisis_numbers"]} >= {"911", "988"}
    assert all(s in (201, 202) for s in statuses[:RATE_LIMIT_PRESSES]), statuses
    assert statuses[RATE_LIMIT_PRESSES:] == [429, 429], statuses
