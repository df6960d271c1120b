"""Metrics across real processes (SPEC 10.4): two `crisisdesk api` processes report the same
case-file totals whichever of them took the action and whichever worker did the work; a
never-ending server-sent event stream is counted when it opens; `crisisdesk worker` serves
Temporal's SDK metrics on CRISISDESK_WORKER_METRICS_PORT."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from domain.vocabulary import Role
from tests.fakes import HOST, free_port
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING
from tests.processes import ApiProcess, WorkerProcess, crisisdesk_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

TOKEN = "e2e-metrics-" + uuid.uuid4().hex + uuid.uuid4().hex
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Deployment:
    apis: list[ApiProcess]
    worker_metrics: str
    task_queue: str


def _deploy(
    dev_env: WorkflowEnvironment, database_url: str, tmp_path: Path, *, apis: int
) -> Iterator[Deployment]:
    """A worker serving its SDK metrics, and `apis` API processes, on one database."""
    task_queue = f"e2e-{uuid.uuid4()}"
    fields: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "temporal_address": dev_env.client.service_client.config.target_host,
        "temporal_namespace": dev_env.client.namespace,
        "task_queue": task_queue,
        "encryption_keys": KEYRING.render(),
        "log_format": "json",
        "metrics_token": TOKEN,
        "metrics_cache_seconds": 0,
        "api_host": HOST,
    }
    worker_port = free_port()
    worker = WorkerProcess(
        crisisdesk_env(fields | {"worker_metrics_port": worker_port}), tmp_path / "worker.log"
    )
    api_processes = [
        ApiProcess(crisisdesk_env(fields | {"api_port": free_port()}), tmp_path / f"api{n}.log")
        for n in range(apis)
    ]
    for process in (worker, *api_processes):
        process.start()
    try:
        for api in api_processes:
            api.wait_ready()
        yield Deployment(api_processes, f"http://{HOST}:{worker_port}/metrics", task_queue)
    finally:
        for process in (*api_processes, worker):
            process.stop()


@pytest.fixture
def deployment(
    dev_env: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> Iterator[Deployment]:
    yield from _deploy(dev_env, database_url, tmp_path, apis=2)


@pytest.fixture
def worker_only(
    dev_env: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> Iterator[Deployment]:
    yield from _deploy(dev_env, database_url, tmp_path, apis=0)


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def samples_of(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(
    http: httpx.AsyncClient, api: ApiProcess
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await http.get(f"{api.url}/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    return samples_of(response.text)


def opened(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], crisis_type: str) -> float:
    key = ("crisisdesk_incidents_opened_total", frozenset({("crisis_type", crisis_type)}))
    return samples.get(key, 0.0)


async def test_every_api_process_reports_the_same_totals_and_counts_a_stream_once(
    deployment: Deployment, program: DemoProgram, http: httpx.AsyncClient
) -> None:
    first, second = deployment.apis
    assert (await http.get(f"{second.url}/metrics")).status_code == 401
    assert opened(await scrape(http, second), "overdose") == 0
    answer = await http.post(
        f"{first.url}/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "overdose",
            "summary": "Found unresponsive",
            "location": {"zip": "97201"},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert answer.status_code == 201, answer.text

    async def seen_by_both() -> bool:
        both = [await scrape(http, api) for api in deployment.apis]
        return all(opened(samples, "overdose") == 1 for samples in both)

    await eventually(seen_by_both, "the opening in both processes' totals", tries=1500)
    post = frozenset({("route", "/v1/incidents"), ("method", "POST"), ("status", "201")})
    request_count = "crisisdesk_http_request_duration_seconds_count"
    assert (await scrape(http, first)).get((request_count, post)) == 1
    assert (await scrape(http, second)).get((request_count, post)) is None
    await _a_live_stream_is_counted_when_it_opens(first, program, http)


async def _a_live_stream_is_counted_when_it_opens(
    api: ApiProcess, program: DemoProgram, http: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as browser:
        signed_in = await browser.post("/signin", data={"token": program.tokens[Role.CLINICIAN]})
        assert signed_in.status_code == 303, signed_in.text
        async with browser.stream("GET", "/live/board") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            first_event = await anext(stream.aiter_text())
            assert "signed-out" not in first_event  # the change stream, which never ends
            samples = await scrape(http, api)
    live = frozenset({("route", "/live/board"), ("method", "GET"), ("status", "200")})
    assert samples[("crisisdesk_http_request_duration_seconds_count", live)] == 1


async def test_the_worker_serves_temporal_sdk_metrics(
    worker_only: Deployment, http: httpx.AsyncClient
) -> None:
    deployment = worker_only

    async def polled() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        try:
            response = await http.get(deployment.worker_metrics)
        except httpx.TransportError:
            return None
        samples = samples_of(response.text)
        slots = [k for k in samples if k[0] == "temporal_worker_task_slots_available"]
        return samples if slots else None

    samples = await eventually(polled, "the worker's SDK metrics", tries=1500)
    queues = {
        dict(labels).get("task_queue") for name, labels in samples if name.startswith("temporal_")
    }
    assert deployment.task_queue in queues
