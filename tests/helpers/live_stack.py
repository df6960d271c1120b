"""A deployment of real processes for the browser: a Temporal dev server, `crisisdesk worker` and
`crisisdesk api` on a fresh PostgreSQL database, mail to a local SMTP sink and texts and calls
to the fake Twilio. The data is made the way an operator makes it: the program and its first
admin with the `crisisdesk` command, everything else through the JSON API as that admin.

    async with live_stack(tmp_path) as stack:
        stack.base_url, stack.tokens[Role.CLINICIAN], stack.device_token
        await stack.stop_api(); await stack.start_api()

Used by tests/browser/conftest.py and scripts/screenshots.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from domain.vocabulary import Role
from infra.embedded import dev_server_command
from infra.settings import Settings
from tests.fakes import HOST, free_port
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.helpers.databases import PG_ADMIN_URL, pg_url
from tests.helpers.stack import KEYRING
from tests.processes import CLI, ApiProcess, DevServer, WorkerProcess, crisisdesk_env

PROGRAM_SLUG = "river"
# Who the seeded client is; tests look for these on the pages.
CLIENT = {"first_name": "Ana", "last_name": "Ruiz", "phone": "+15035550100", "zip": "97201"}
MEDICAL_CONTACT = {
    "name": "Dr. Sam Okafor",
    "relationship": "primary care physician",
    "kind": "medical",
    "facility": "Riverside Clinic",
    "phone": "+15035550142",
    "channels": ["sms", "voice"],
}

# The program's crisis line near the client: the SOS page shows it beside 911 and 988.
CRISIS_LINE = {
    "name": "Multnomah County Crisis Line",
    "kind": "crisis_line",
    "phone": "+15039884888",
    "zip": "97204",
    "lat": 45.5152,
    "lon": -122.6784,
    "region": "Multnomah County, OR",
    "services": ["crisis_line"],
    "open_24_7": True,
}


@dataclass
class LiveStack:
    """The running deployment and what was seeded on it."""

    base_url: str
    tokens: dict[Role, str]
    staff_ids: dict[Role, str]
    program_id: str
    client_id: str
    contact_id: str
    consent_id: str
    device_token: str
    database_url: str
    settings: Settings
    temporal: DevServer
    worker: WorkerProcess
    api: ApiProcess
    smtp: SmtpSink
    twilio: FakeTwilio
    logs: Path

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def http(self, role: Role | None = None) -> httpx.AsyncClient:
        """A JSON API client of the API process, as `role` when given (close it after use)."""
        headers = self.auth(role) if role is not None else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)

    async def stop_api(self) -> None:
        """Stop the API process (the worker and Temporal go on): the server is unreachable."""
        await asyncio.to_thread(self.api.stop)

    async def start_api(self) -> None:
        """Start the API process again on the same address; returns once /readyz answers."""
        if not self.api.running:
            self.api.start()
        await asyncio.to_thread(self.api.wait_ready)


def _create_database() -> str:
    name = f"crisisdesk_live_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cli(env: dict[str, str], *args: str) -> str:
    """Run `crisisdesk ARGS` as an operator would; its standard output's last line."""
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"crisisdesk {args[0]} failed ({done.returncode}): {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


async def _created(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(path, json=body)
    if response.status_code != 201:
        raise RuntimeError(f"seeding POST {path}: {response.status_code} {response.text}")
    created: dict[str, Any] = response.json()
    return created


async def _seed_through_api(stack: LiveStack) -> None:
    """Staff of each remaining role, the client, a medical contact, its consent, a device."""
    async with stack.http(Role.ADMIN) as admin:
        for role in (Role.CLINICIAN, Role.SUPERVISOR, Role.FOLLOWUP):
            member = await _created(
                admin,
                "/v1/staff",
                {
                    "name": f"{role.capitalize()} of {PROGRAM_SLUG}",
                    "role": role,
                    "on_call": role is not Role.FOLLOWUP,
                    "email": f"{role}@{PROGRAM_SLUG}.test",
                },
            )
            stack.tokens[role], stack.staff_ids[role] = member["token"], member["id"]
        client = await _created(admin, "/v1/clients", CLIENT)
        stack.client_id = client["id"]
        contact = await _created(admin, f"/v1/clients/{client['id']}/contacts", MEDICAL_CONTACT)
        stack.contact_id = contact["id"]
        consent = await _created(
            admin,
            f"/v1/clients/{client['id']}/consents",
            {"kind": "contact_disclosure", "contact_id": contact["id"]},
        )
        stack.consent_id = consent["id"]
        device = await _created(
            admin, f"/v1/clients/{client['id']}/devices", {"label": "Ana's phone"}
        )
        await _created(admin, "/v1/resources", CRISIS_LINE)
        stack.device_token = device["token"]
        listed = await admin.get("/v1/staff")
        listed.raise_for_status()
        for member in listed.json()["data"]:
            if member["role"] == Role.ADMIN:
                stack.staff_ids[Role.ADMIN] = member["id"]
        me = await admin.get("/v1/programs/me")
        me.raise_for_status()
        stack.program_id = str(me.json()["id"])


@contextlib.asynccontextmanager
async def live_stack(workdir: Path, *, temporal_ui: bool = False) -> AsyncIterator[LiveStack]:
    """Start the deployment under `workdir` (logs, Temporal's SQLite file, the audit key),
    seed it, and stop every process and drop the database however the block ends. With
    `temporal_ui`, the dev server also serves its Web UI (on `settings.temporal_ui_port`), as
    `make run` does, pointed at the API's codec server."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = await asyncio.to_thread(_create_database)
    smtp = SmtpSink()
    twilio = FakeTwilio()
    api_port = free_port()
    fields: dict[str, object] = {
        **smtp.settings_fields(),
        **twilio.settings_fields(),
        "database_url": pg_url(database),
        "data_dir": workdir,
        "temporal_address": f"{HOST}:{free_port()}",
        "temporal_ui_port": free_port(),
        "task_queue": f"live-{uuid.uuid4().hex[:8]}",
        "encryption_keys": KEYRING.render(),
        "api_host": HOST,
        "api_port": api_port,
        "public_url": f"http://{HOST}:{api_port}",
        "log_format": "json",
    }
    settings = Settings(**fields)  # type: ignore[arg-type]
    env = crisisdesk_env(fields)
    temporal = DevServer(
        [*dev_server_command(settings), *([] if temporal_ui else ["--headless"])],
        settings.temporal_address,
        workdir / "temporal.log",
    )
    worker = WorkerProcess(env, workdir / "worker.log")
    api = ApiProcess(env, workdir / "api.log")
    try:
        smtp.start()
        await twilio.up()
        temporal.start()
        await asyncio.to_thread(_cli, env, "migrate")
        await asyncio.to_thread(temporal.wait_ready)
        worker.start()
        api.start()
        # The operator's first steps, while the API process boots.
        await asyncio.to_thread(
            _cli, env, "program", "add", "--slug", PROGRAM_SLUG, "--name", "River IOP"
        )
        admin_token = await asyncio.to_thread(
            _cli, env, "staff", "add", "--program", PROGRAM_SLUG, "--role", "admin",
            "--name", f"Admin of {PROGRAM_SLUG}",
        )  # fmt: skip
        await asyncio.to_thread(api.wait_ready)
        stack = LiveStack(
            base_url=api.url,
            tokens={Role.ADMIN: admin_token},
            staff_ids={},
            program_id="",
            client_id="",
            contact_id="",
            consent_id="",
            device_token="",
            database_url=pg_url(database),
            settings=settings,
            temporal=temporal,
            worker=worker,
            api=api,
            smtp=smtp,
            twilio=twilio,
            logs=workdir,
        )
        await _seed_through_api(stack)
        yield stack
    finally:
        api.stop()
        worker.stop()
        temporal.stop()
        await twilio.close()
        smtp.stop()
        await asyncio.to_thread(_drop_database, database)
