"""Bad input: Schemathesis sends the app what its OpenAPI schema allows and what it does not, and
no answer is a server error or breaks the schema.

The schema is the app's own (`create_app(...).openapi()`, checked equal to what the running app
serves at `/openapi.json`). Every operation is called over ASGI on the real app, wired to a
worker on a time-skipping Temporal server and a migrated PostgreSQL database, with real tokens:
staff routes with the role they are for (the clinician's unless `ROLE_FOR` names another), the
SOS button with a device token, the signed-link and callback routes with none. A generated id
that is well formed names a real record half the time, in the path and in the body (the client,
an open incident, a follow-up task, a contact, a device, a staff member, a resource, a signed
acknowledgement link), so the fuzzing reaches the handlers and the workflows, not only the 404s.

Each answer must have a documented status code, content type, body and headers, and no 5xx: the
schema documents a 503 for when a dependency is down or late, but here the database and Temporal
are up, so a 503 is accepted only when it does not come again or `/readyz` agrees that something
is down (an acknowledgement for an ended incident was once answered "the workflow engine is
unavailable").

PostgreSQL only, not SQLite as well: the run takes some 40 s per database, and PostgreSQL is the
production database and the stricter one (it refuses NUL characters that SQLite stores). One stack
serves all operations (a module-scoped fixture: a stack per operation would cost more than the
fuzzing). It runs on an event loop of its own thread, as a server would, so its worker keeps
working while Hypothesis makes the next request on the test's thread.

Bounded: `MAX_EXAMPLES` generated cases per operation on top of Schemathesis's coverage cases
(boundaries and malformed values of each parameter), under a fixed seed, so a failure reproduces;
raise both locally to explore further.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.followup import task_id_for
from domain.vocabulary import Role
from infra.ack_tokens import AckClaim, issue_ack_token
from infra.binaries import temporal_test_server
from infra.db import make_async_engine, session_factory
from infra.settings import Settings
from infra.temporal import ensure_search_attributes
from tests.helpers.databases import PG_ADMIN_URL
from tests.helpers.followup import start_followup
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack, running_stack, stack_app_secret

MAX_EXAMPLES = 8
SEED = 9457
REQUEST_TIMEOUT = 60.0
T = TypeVar("T")

# Staff routes not for the clinician; every other route with a bearer token gets the clinician's.
ROLE_FOR = {
    "GET /v1/programs/me": Role.ADMIN,
    "GET /v1/staff": Role.ADMIN,
    "POST /v1/staff": Role.ADMIN,
    "POST /v1/staff/{staff_id}/deactivate": Role.ADMIN,
    "POST /v1/clients": Role.ADMIN,
    "POST /v1/clients/{client_id}/contacts": Role.ADMIN,
    "POST /v1/clients/{client_id}/consents": Role.ADMIN,
    "GET /v1/clients/{client_id}/consents": Role.ADMIN,
    "POST /v1/clients/{client_id}/devices": Role.ADMIN,
    "POST /v1/clients/{client_id}/devices/{device_id}/revoke": Role.ADMIN,
    "POST /v1/resources": Role.ADMIN,
    "GET /v1/incidents/{incident_id}/history": Role.SUPERVISOR,
    "POST /v1/incidents/{incident_id}/break-glass": Role.SUPERVISOR,
    "GET /v1/tasks": Role.FOLLOWUP,
    "POST /v1/tasks/{task_id}/claim": Role.FOLLOWUP,
    "POST /v1/tasks/{task_id}/complete": Role.FOLLOWUP,
}
# The OpenAPI document's two bearer schemes: a staff token, and a client device's token.
STAFF_SCHEME, DEVICE_SCHEME = "StaffToken", "DeviceToken"

API_DOCUMENT = create_app(Settings(database_url="sqlite://")).openapi()
schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(API_DOCUMENT)), config=schemathesis.Config.from_dict({"seed": SEED})
)

# The records of the stack under test, by the name of the id (set by the `fuzz_target` fixture).
REAL_IDS: dict[str, str] = {}


def _with_real_ids(generated: Any) -> st.SearchStrategy[Any]:
    """`generated` as it is, or with a real record's id in place of each well-formed id (a
    malformed one stays, for the 422 it must get)."""
    if not isinstance(generated, dict) or not REAL_IDS.keys() & generated.keys():
        return st.just(generated)
    real = {
        name: REAL_IDS[name] if name in REAL_IDS and _well_formed(name, value) else value
        for name, value in generated.items()
    }
    return st.sampled_from([generated, real])


def _well_formed(name: str, value: Any) -> bool:
    if name == "token":  # a signed link's token is any string
        return True
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@schema.hook
def flatmap_path_parameters(
    _: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[Any]:
    return _with_real_ids(path_parameters)


@schema.hook
def flatmap_body(_: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    return _with_real_ids(body)


CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@dataclass
class FuzzTarget:
    """The running app, and what its callers hold: tokens and the ids of real records."""

    loop: asyncio.AbstractEventLoop
    stack: Stack
    program: DemoProgram
    device_token: str

    def run(self, work: Awaitable[T]) -> T:
        """Wait on the stack's loop for `work`, from the test's thread."""

        async def bounded() -> T:
            return await asyncio.wait_for(work, REQUEST_TIMEOUT)

        return asyncio.run_coroutine_threadsafe(bounded(), self.loop).result()

    def credentials(self, operation: schemathesis.APIOperation) -> dict[str, str]:
        """The token the operation's security scheme names, told apart by the document alone."""
        schemes = {name for need in operation.definition.raw.get("security", []) for name in need}
        if DEVICE_SCHEME in schemes:
            return {"Authorization": f"Bearer {self.device_token}"}
        if STAFF_SCHEME in schemes:
            return self.program.auth(ROLE_FOR.get(operation.label, Role.CLINICIAN))
        return {}

    def send(self, case: schemathesis.Case) -> httpx.Response:
        sent = case.as_transport_kwargs(
            base_url=str(self.stack.http.base_url), headers=self.credentials(case.operation)
        )
        content = json.dumps(sent["json"]).encode() if "json" in sent else sent.get("data")
        request = self.stack.http.build_request(
            sent["method"],
            sent["url"],
            params=sent.get("params"),
            headers=dict(sent["headers"]),
            content=content,
        )
        return self.run(self.stack.http.send(request))

    def no_server_error(
        self,
        ctx: schemathesis.CheckContext,
        response: schemathesis.Response,
        case: schemathesis.Case,
    ) -> None:
        """No 5xx. A 503 says a dependency is down or late: sent again, the request must still
        get it while `/readyz` agrees; one that `/readyz` denies is a wrong answer."""
        if response.status_code < 500:
            return
        if response.status_code == 503:
            again = self.send(case)
            if again.status_code < 500:
                return  # a dependency was away for a moment (a restart, say)
            ready = self.run(self.stack.http.get("/readyz"))
            if again.status_code == 503 and ready.status_code == 503:
                return
        raise AssertionError(
            f"{response.status_code} while the database and Temporal are up: {response.text}"
        )


async def _real_records(
    stack: Stack,
    program: DemoProgram,
    env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[str, dict[str, str]]:
    """A device token for the SOS button, and the ids of real records by their name, made
    through the API as its users would."""
    admin, clinician = program.auth(Role.ADMIN), program.auth(Role.CLINICIAN)
    client_path = f"/v1/clients/{program.client.id}"

    async def created(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = await stack.http.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    sos_device = await created(f"{client_path}/devices", {"label": "sos button"}, admin)
    device = await created(f"{client_path}/devices", {"label": "spare phone"}, admin)
    contact = await created(
        f"{client_path}/contacts",
        {
            "name": "Lia Ruiz",
            "relationship": "sister",
            "kind": "personal",
            "phone": "+15035550101",
            "channels": ["sms"],
        },
        admin,
    )
    spare = await created("/v1/staff", {"name": "Spare Clinician", "role": "clinician"}, admin)
    resource = await created(
        "/v1/resources",
        {
            "name": "Portland Crisis Line",
            "kind": "crisis_line",
            "phone": "+15035550111",
            "lat": 45.52,
            "lon": -122.68,
        },
        admin,
    )
    incident = await created(
        "/v1/incidents",
        {
            "client_id": str(program.client.id),
            "crisis_type": "suicidal_ideation",
            "summary": "Disclosed a plan during group session",
            "location": {"zip": "97201"},
        },
        clinician,
    )
    _, followup = await start_followup(stack, program, sessions)
    ack_token = issue_ack_token(
        stack_app_secret(stack),
        AckClaim(
            incident_id=uuid.UUID(incident["id"]),
            ladder_id=uuid.uuid4(),
            recipient_id=uuid.UUID(contact["id"]),
            channel="sms",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        ),
    )
    return sos_device["token"], {
        "client_id": str(program.client.id),
        "incident_id": incident["id"],
        "task_id": str(task_id_for(followup.incident_id, 1)),
        "contact_id": contact["id"],
        "device_id": device["id"],
        "staff_id": spare["id"],
        "resource_id": resource["id"],
        "token": ack_token,
    }


@pytest.fixture(scope="module")
def fuzz_database_url(postgres_template: str) -> Iterator[str]:
    """A migrated database for the module (conftest's `database_url` is one per test)."""
    name = f"crisisdesk_fuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def fuzz_target(
    fuzz_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="crisisdesk-under-fuzz", daemon=True)
    thread.start()
    resources = contextlib.AsyncExitStack()

    async def start() -> FuzzTarget:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server()
        )
        resources.push_async_callback(env.shutdown)
        await ensure_search_attributes(env.client)
        engine = make_async_engine(fuzz_database_url)
        resources.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        program = await make_program(sessions)
        stack = await resources.enter_async_context(
            running_stack(
                env,
                fuzz_database_url,
                sessions,
                tmp_path_factory.mktemp("fuzz"),
                webhook_secret="fuzz-webhook-secret",
            )
        )
        served = await stack.http.get("/openapi.json")
        assert served.json() == API_DOCUMENT
        assert set(API_DOCUMENT["components"]["securitySchemes"]) == {STAFF_SCHEME, DEVICE_SCHEME}
        device_token, real = await _real_records(stack, program, env, sessions)
        REAL_IDS.update(real)
        return FuzzTarget(loop, stack, program, device_token)

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=120)
    finally:
        REAL_IDS.clear()
        asyncio.run_coroutine_threadsafe(resources.aclose(), loop).result(timeout=120)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None)
@schema.parametrize()
def test_no_request_gets_a_server_error_or_an_undocumented_answer(
    case: schemathesis.Case, fuzz_target: FuzzTarget
) -> None:
    response = fuzz_target.send(case)
    case.validate_response(response, checks=[fuzz_target.no_server_error, *CONFORMANCE])
