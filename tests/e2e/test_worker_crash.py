"""A worker killed (SIGKILL) in the middle of an incident, then started again, continues it with
nothing lost or duplicated. Real Temporal dev server, real PostgreSQL, the worker a real process."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.models import AuditEvent, DecisionRecord, Incident
from domain.vocabulary import Role
from infra.audit_log import verify_chain
from infra.settings import Settings
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING, encrypted_client
from tests.processes import WorkerProcess, crisisdesk_env
from tests.workflows.scenarios import DEESCALATED, SAFETY_PLAN

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


@pytest.fixture
def worker_process(
    dev_env: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> Iterator[tuple[WorkerProcess, Settings]]:
    fields: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "temporal_address": dev_env.client.service_client.config.target_host,
        "temporal_namespace": dev_env.client.namespace,
        "task_queue": f"e2e-{uuid.uuid4()}",
        "encryption_keys": KEYRING.render(),
        "log_format": "json",
    }
    settings = Settings(**fields)  # type: ignore[arg-type]
    env = crisisdesk_env(fields)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    yield worker, settings
    worker.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def e2e_http(
    dev_env: WorkflowEnvironment, worker_process: tuple[WorkerProcess, Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    _, settings = worker_process
    app = create_app(settings, temporal=encrypted_client(dev_env))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://e2e", timeout=60
    ) as http:
        yield http
    await app.state.runtime.close()


async def test_killed_worker_resumes_the_incident_without_loss_or_duplicates(
    e2e_http: httpx.AsyncClient,
    worker_process: tuple[WorkerProcess, Settings],
    program: DemoProgram,
    sessions: async_sessionmaker[AsyncSession],
    dev_env: WorkflowEnvironment,
) -> None:
    worker, _ = worker_process
    clinician = program.auth(Role.CLINICIAN)

    async def decide(body: dict[str, Any], headers: dict[str, str] = clinician) -> dict[str, Any]:
        response = await e2e_http.post(
            f"/v1/incidents/{incident['id']}/decisions", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    opened = await e2e_http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "suicidal_ideation",
            "summary": "Disclosed a plan during group session",
            "location": {"zip": "97201"},
        },
        headers=clinician,
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()

    await decide(
        {
            "kind": "assessment",
            "instrument": "cssrs_screener",
            "answers": {"wish_dead": True, "suicidal_thoughts": False, "behavior": False},
        }
    )
    # Killed right after an accepted decision: its projection activity may be in flight.
    worker.kill()
    # Decisions made while no worker runs wait for one; none is lost.
    pending = [
        asyncio.create_task(decide({"kind": "note", "text": f"Check-in {i}"})) for i in range(3)
    ]
    await asyncio.sleep(0.5)
    assert not any(task.done() for task in pending)
    worker.start()
    await asyncio.gather(*pending)

    await decide(DEESCALATED)
    worker.kill()
    worker.start()
    await decide(
        {
            "kind": "disposition",
            "outcome": "remained_home_with_safety_plan",
            "safety_plan": SAFETY_PLAN,
        }
    )
    final = await decide(
        {"kind": "close", "reason": "Stable at home, follow-up booked"},
        headers=program.auth(Role.SUPERVISOR),
    )
    assert final["stage"] == "closed"
    kinds = Counter(d["kind"] for d in final["decisions"])
    assert kinds == Counter(
        {"assessment": 1, "note": 3, "deescalation": 1, "disposition": 1, "close": 1}
    )

    incident_id = uuid.UUID(incident["id"])

    async def projected() -> Incident | None:
        async with sessions() as session:
            row = await session.get(Incident, incident_id)
        return row if row is not None and row.stage == "closed" else None

    await eventually(projected, "the closed projection", tries=1500)
    async with sessions() as session:
        rows = (
            await session.exec(
                select(DecisionRecord.id).where(DecisionRecord.incident_id == incident_id)
            )
        ).all()
        audited = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.incident_id == incident_id)
            )
        ).all()
    assert len(rows) == len(set(rows)) == 7
    assert sum(a.startswith("decision.") for a in audited) == 7
    assert audited.count("incident.opened") == 1
    _, broken = await verify_chain(sessions)
    assert broken is None

    history = await dev_env.client.get_workflow_handle(incident["workflow_id"]).fetch_history()
    completed = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    ]
    assert len(completed) == 7
