"""The real FastAPI app and a worker wired to one Temporal server, with the test keyring."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from infra.codec import Keyring
from infra.settings import Settings
from infra.signing_interceptors import DecisionSigning
from infra.temporal import data_converter_for
from worker import build_worker

KEYRING = Keyring.generate("test1")
# The API's decision key: the stack's client signs with it and its worker checks it.
DECISION_KEY = secrets.token_bytes(32)


def encrypted_client(env: WorkflowEnvironment) -> Client:
    """A client of the environment's server with the production converter and codec."""
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter_for(KEYRING),
        interceptors=[DecisionSigning(DECISION_KEY)],
    )


@dataclass
class Stack:
    client: Client
    task_queue: str
    settings: Settings
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    **settings_fields: Any,
) -> AsyncIterator[Stack]:
    """The app and a worker on `ts_env`; `settings_fields` point channels at local fakes."""
    worker_client = encrypted_client(ts_env)
    task_queue = f"tq-{uuid.uuid4()}"
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        task_queue=task_queue,
        encryption_keys=KEYRING.render(),
        **settings_fields,
    )
    worker: Worker = build_worker(worker_client, settings=settings, sessions=sessions)
    app = create_app(settings, temporal=worker_client)
    transport = httpx.ASGITransport(app=app)
    async with worker, httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Stack(client=worker_client, task_queue=task_queue, settings=settings, http=http)
    await app.state.runtime.close()


def stack_app_secret(stack: Stack) -> bytes:
    from api.runtime import Runtime

    transport = stack.http._transport  # the ASGI transport holds the app
    runtime: Runtime = transport.app.state.runtime  # type: ignore[attr-defined]
    return runtime.ack_secret
