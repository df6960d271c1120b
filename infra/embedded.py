"""The embedded stack: Temporal's dev server (SQLite under the data directory), worker and API
in one command, stopped cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Iterator

import structlog
import uvicorn
from temporalio.client import Client

from infra.binaries import temporal_cli
from infra.settings import Settings
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

log = structlog.get_logger("crisisdesk.dev")


def dev_server_command(settings: Settings) -> list[str]:
    host, _, port = settings.temporal_address.rpartition(":")
    db_file = (settings.data_dir / "temporal.db").resolve()
    command = [
        temporal_cli(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--ip",
        host if host not in ("localhost", "") else "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        # The UI decodes payloads through the API's codec server, for signed-in supervisors only.
        "--ui-codec-endpoint",
        f"{settings.public_url.rstrip('/')}/codec",
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "error",
        # Measured here: WAL more than doubles the dev server's throughput over its default.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
    ]
    for key in ALL_SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{key.name}=Keyword"]
    return command


def start_dev_server(settings: Settings) -> subprocess.Popen[bytes]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_file = (settings.data_dir / "temporal-server.log").open("ab")
    return subprocess.Popen(  # noqa: S603 (our own binary, our own arguments)
        dev_server_command(settings),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us; we stop the server after the worker
    )


async def wait_for_temporal(settings: Settings, within_seconds: float = 60) -> Client:
    deadline = asyncio.get_running_loop().time() + within_seconds
    while True:
        try:
            return await Client.connect(
                settings.temporal_address, namespace=settings.temporal_namespace
            )
        except Exception:  # not up yet
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _QuietServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to the embedded stack, which stops every part in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(settings: Settings, stop: asyncio.Event) -> None:
    from api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        log_config=None,  # uvicorn's loggers write through the redacting handler
        lifespan="on",
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task
