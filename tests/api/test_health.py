"""Liveness and readiness: /readyz answers 503 naming the dependency that is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from infra.settings import Settings
from tests.helpers.stack import KEYRING, Stack, encrypted_client

UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nope"


@asynccontextmanager
async def _http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # ASGITransport does not run the lifespan, so the app never connects to Temporal itself.
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await app.state.runtime.close()


def _assert_not_ready(response: httpx.Response, failing: str, working: str) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == 503
    assert failing in problem["detail"]
    assert working not in problem["detail"]
    assert problem["checks"][failing].startswith("unreachable")
    assert problem["checks"][working] == "ok"


async def test_healthz_answers_while_the_process_is_up(stack: Stack) -> None:
    response = await stack.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_when_database_and_temporal_answer(stack: Stack) -> None:
    response = await stack.http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "temporal": "ok"}}


async def test_readyz_names_the_database_when_it_is_unreachable(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=UNREACHABLE_DATABASE, data_dir=tmp_path, encryption_keys=KEYRING.render()
    )
    app = create_app(settings, temporal=encrypted_client(ts_env))
    async with _http(app) as http:
        response = await http.get("/readyz")
        _assert_not_ready(response, failing="database", working="temporal")
        # Liveness does not depend on the database.
        assert (await http.get("/healthz")).status_code == 200


async def test_readyz_names_temporal_when_no_client_is_connected(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, encryption_keys=KEYRING.render()
    )
    async with _http(create_app(settings)) as http:
        response = await http.get("/readyz")
    _assert_not_ready(response, failing="temporal", working="database")


async def test_a_request_that_needs_the_database_answers_503_when_it_is_down(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=UNREACHABLE_DATABASE, data_dir=tmp_path, encryption_keys=KEYRING.render()
    )
    app = create_app(settings, temporal=encrypted_client(ts_env))
    async with _http(app) as http:
        response = await http.get("/v1/clients", headers={"Authorization": "Bearer cdk_x"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "database" in response.json()["detail"]
