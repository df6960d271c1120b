"""The parts of a deployment as real OS processes a test can kill, stop and start again.

    WorkerProcess   `crisisdesk worker` (kill -9, start again)
    ApiProcess      `crisisdesk api` on a loopback port, ready when /readyz answers
    DevServer       `temporal server start-dev` on a SQLite file of its own, restartable in place
    postgres_down   the machine's PostgreSQL stopped for a while, and always started again

Each takes the `CRISISDESK_*` environment the processes of a real deployment would read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

from infra.embedded import stop_process
from tests.helpers.databases import PG_ADMIN_URL
from tests.helpers.stack import DECISION_KEY

CLI = str(Path(sys.executable).parent / "crisisdesk")


def crisisdesk_env(fields: dict[str, object]) -> dict[str, str]:
    """The process environment for these Settings fields (and none inherited from the shell).
    The decision key is the test stack's unless given: a process worker checks the decisions
    of an in-process API (tests.helpers.stack) and the reverse."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISISDESK_")}
    env["CRISISDESK_DECISION_KEY"] = base64.b64encode(DECISION_KEY).decode()
    return env | {f"CRISISDESK_{k.upper()}": str(v) for k, v in fields.items()}


class _Process:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self._command = command
        self._env = env
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as out:
            self.process = subprocess.Popen(
                self._command, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when a machine loses power."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=30)


class WorkerProcess(_Process):
    """`crisisdesk worker` as a separate OS process, so it can be killed for real."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__([CLI, "worker"], env, log)


class ApiProcess(_Process):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__([CLI, "api"], env, log)
        self.url = f"http://{env['CRISISDESK_API_HOST']}:{env['CRISISDESK_API_PORT']}"

    def wait_ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"the API exited; see {self._log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the API was not ready within {within} s; see {self._log}")


class DevServer(_Process):
    """Temporal's dev server persisted to one SQLite file: a restart keeps every workflow."""

    def __init__(self, command: list[str], address: str, log: Path) -> None:
        super().__init__(command, dict(os.environ), log)
        self.address = address

    def wait_ready(self, within: float = 60) -> None:
        host, _, port = self.address.rpartition(":")
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"the Temporal dev server exited; see {self._log}")
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 1):
                return
            time.sleep(0.1)
        raise RuntimeError(f"Temporal was not listening within {within} s")


# --- PostgreSQL --------------------------------------------------------------------------


def _clusters() -> list[str]:
    return sorted(os.listdir("/etc/postgresql"))


def _embedded_pg_ctl(action: str) -> None:
    """Stop or start the embedded PostgreSQL that scripts/ensure-postgres runs on a machine
    with no PostgreSQL server installed (its data directory as that script names it)."""
    port = str(urlsplit(PG_ADMIN_URL).port or 5432)
    data = os.environ.get("CRISISDESK_TEST_PG_DATA", f"/tmp/crisisdesk-pgserver-{port}")
    script = Path(__file__).resolve().parent.parent / "scripts" / "embedded_postgres.py"
    subprocess.run(
        [sys.executable, str(script), action, "--data", data, "--port", port],
        check=True,
        capture_output=True,
    )


def _pg_ctl(action: str) -> None:
    if os.environ.get("CRISISDESK_TEST_PG_EMBEDDED") or not os.path.isdir("/etc/postgresql"):
        _embedded_pg_ctl(action)
        return
    for version in _clusters():
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action]
            + (["-m", "fast"] if action == "stop" else []),
            check=True,
            capture_output=True,
        )


def postgres_accepting(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def start_postgres(url: str, within: float = 60) -> None:
    if postgres_accepting(url):
        return
    with contextlib.suppress(subprocess.CalledProcessError):  # already starting
        _pg_ctl("start")
    deadline = time.monotonic() + within
    while not postgres_accepting(url):
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not come back")
        time.sleep(0.2)


@contextlib.asynccontextmanager
async def postgres_down(url: str) -> AsyncIterator[None]:
    """The machine's PostgreSQL stopped (fast shutdown: sessions cut) for the block's length,
    started again however the block ends."""
    await asyncio.to_thread(_pg_ctl, "stop")
    try:
        yield
    finally:
        await asyncio.to_thread(start_postgres, url)
