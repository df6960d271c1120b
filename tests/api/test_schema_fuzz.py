"""Bad input: Schemathesis sends the app what its OpenAPI schema allows and what it does not, and
every answer is the one the schema promises.

The schema is the app's own (`create_app(...).openapi()`, checked equal to what the running app
serves at `/openapi.json`). Every operation is called over HTTP on the real app behind uvicorn,
wired to a worker on a time-skipping Temporal server and a migrated PostgreSQL database, with
real tokens: staff routes with the role they are for (the clinician's unless `ROLE_FOR` names
another), the SOS button with a device token, the signed-link and callback routes with none. A
generated id that is well formed names a real record half the time, in the path and in the body
(the client, an open incident, a follow-up task, a contact, a device, a staff member, a
resource, a signed acknowledgement link), so the fuzzing reaches the handlers and the
workflows, not only the 404s.

Every check Schemathesis has runs on every answer, on data the schema allows and on data it
does not (both generation modes): a documented status code, content type, body and headers;
data the schema refuses is refused (4xx), and data it allows is not refused for a rule it does
not state (a 422 there means the document misses a rule); a missing required header or an
undeclared method gets its 4xx or 405, with an `Allow` naming every method of the path; an
operation that declares a token refuses a request without one or with a wrong one
(`ignored_auth` sends those itself, over HTTP: why the app is behind a server). Only its "no
5xx" is replaced, by ours: the schema documents a 503 for when a dependency is down or late,
but here the database and Temporal are up, so a 503 is accepted only when it does not come again
or `/readyz` agrees that something is down (an acknowledgement for an ended incident was once
answered "the workflow engine is unavailable").

PostgreSQL only, not SQLite as well: the run takes some 60 s per database, and PostgreSQL is the
production database and the stricter one (it refuses NUL characters that SQLite stores). One
stack serves all operations (a module-scoped fixture: a stack per operation would cost more than
the fuzzing). It runs on an event loop of its own thread, as a server would, so its worker keeps
working while Hypothesis makes the next request on the test's thread.

Two rules no document can state are kept by the sender: a zip code of the right form that no US
area has is swapped for a real one (`_real_zip`), and a case the schema allows gets an
Idempotency-Key not used before (`_fresh_idempotency_key`); likewise the SLA report's two
times that are no window are made one (`_real_window`). A body over the size limit is
refused 413, which counts as refusing data the schema does not allow.

Bounded: `MAX_EXAMPLES` generated cases per operation on top of Schemathesis's coverage cases
(boundaries and malformed values of each parameter), under a fixed seed, so a failure
reproduces; raise both locally to explore further.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, CheckFunction, is_check_class, load_all_checks
from schemathesis.core.parameters import ParameterLocation
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.followup import task_id_for
from domain.geo import coordinates_for_zip
from domain.models.json_types import RFC3339
from domain.sla import window_refusal
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
KNOWN_ZIP = "97201"
ZIP = re.compile(r"^[0-9]{5}$")
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
    "GET /v1/reports/sla": Role.SUPERVISOR,
    "POST /v1/incidents/{incident_id}/break-glass": Role.SUPERVISOR,
    "GET /v1/tasks": Role.FOLLOWUP,
    "POST /v1/tasks/{task_id}/claim": Role.FOLLOWUP,
    "POST /v1/tasks/{task_id}/complete": Role.FOLLOWUP,
}
# The OpenAPI document's two bearer schemes: a staff token, and a client device's token.
STAFF_SCHEME, DEVICE_SCHEME = "StaffToken", "DeviceToken"

API_DOCUMENT = create_app(Settings(database_url="sqlite://")).openapi()
# Schemathesis's statuses for refused data, and 413: a body over the 256 KiB limit is refused
# before it is read.
REJECTED = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "413",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]
schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(API_DOCUMENT)),
    config=schemathesis.Config.from_dict(
        {"seed": SEED, "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}}
    ),
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


def _fresh_idempotency_key(case: schemathesis.Case[Any]) -> None:
    """A key sent before with another body is refused 422 (the IETF draft's answer): a rule of
    what the server has seen, which no document states, so a case the schema allows gets a new
    key."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    for name in list(case.headers or {}):
        if name.lower() == "idempotency-key":
            case.headers[name] = str(uuid.uuid4())


def _real_zip(query: dict[str, Any] | None) -> None:
    """A zip code of the right form that no US area has (`00000`) gets a 422: the document
    cannot list every zip code, so a well-formed one is made a real one."""
    if not isinstance(query, dict):
        return
    origin = query.get("origin")
    holder = origin if isinstance(origin, dict) else query
    zip_code = holder.get("zip")
    if isinstance(zip_code, str) and ZIP.match(zip_code) and not coordinates_for_zip(zip_code):
        holder["zip"] = KNOWN_ZIP


def _real_window(query: dict[str, Any] | None) -> None:
    """The SLA report's window relates two parameters (`to` after `from`, at most 366 days
    later), which no document can state: two well-formed times that are not a window are made
    one."""
    if not isinstance(query, dict) or not {"from", "to"} <= query.keys():
        return
    start, end = str(query["from"]), str(query["to"])
    if not (RFC3339.match(start) and RFC3339.match(end)):
        return
    start_at, end_at = (
        datetime.fromisoformat(t.upper().replace("Z", "+00:00")) for t in (start, end)
    )
    if window_refusal(start_at, end_at) is not None:
        query["from"], query["to"] = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


@schema.hook
def flatmap_body(_: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    return _with_real_ids(body)


load_all_checks()
# Every check Schemathesis has, but its own "no 5xx" (ours below also lets a real outage's 503 by).
CHECKS_RUN: list[CheckFunction] = [
    check
    for check in CHECKS.get_all()
    if not is_check_class(check) and check.__name__ != "not_a_server_error"
]


@dataclass
class FuzzTarget:
    """The running app, and what its callers hold: tokens and the ids of real records."""

    loop: asyncio.AbstractEventLoop
    stack: Stack
    base_url: str
    program: DemoProgram
    device_token: str

    def run(self, work: Awaitable[T]) -> T:
        """Wait on the stack's loop for `work`, from the test's thread."""

        async def bounded() -> T:
            return await asyncio.wait_for(work, REQUEST_TIMEOUT)

        return asyncio.run_coroutine_threadsafe(bounded(), self.loop).result()

    def credentials(self, case: schemathesis.Case[Any]) -> dict[str, str]:
        """The token the operation's security scheme names, told apart by the document alone;
        none for a case made wrong by leaving its `Authorization` header out."""
        operation = case.operation
        schemes = {name for need in operation.definition.raw.get("security", []) for name in need}
        left_out = "authorization" not in {name.lower() for name in case.headers or {}}
        if (
            left_out
            and case.meta is not None
            and case.meta.is_negative_at(ParameterLocation.HEADER)
        ):
            return {}
        if DEVICE_SCHEME in schemes:
            return {"Authorization": f"Bearer {self.device_token}"}
        if STAFF_SCHEME in schemes:
            return self.program.auth(ROLE_FOR.get(operation.label, Role.CLINICIAN))
        return {}

    def send(self, case: schemathesis.Case[Any]) -> schemathesis.Response:
        """Over HTTP to the app's server, as a client would (the checks that probe, such as
        `ignored_auth`, send their own requests the same way)."""
        _real_zip(case.query)
        _real_window(case.query)
        _fresh_idempotency_key(case)
        headers = self.credentials(case)
        return case.call(base_url=self.base_url, headers=headers, timeout=REQUEST_TIMEOUT)

    def validate(self, case: schemathesis.Case[Any], response: schemathesis.Response) -> None:
        case.validate_response(
            response,
            checks=[self.no_server_error, *CHECKS_RUN],
            headers=self.credentials(case),
            transport_kwargs={"base_url": self.base_url, "timeout": REQUEST_TIMEOUT},
        )

    def no_server_error(
        self,
        ctx: schemathesis.CheckContext,
        response: schemathesis.Response,
        case: schemathesis.Case[Any],
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


@contextlib.asynccontextmanager
async def serving(stack: Stack) -> AsyncIterator[str]:
    """The stack's app behind a uvicorn server on a free local port, on the stack's loop."""
    app = stack.http._transport.app  # type: ignore[attr-defined]  # the ASGI transport holds it
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, no event, once it listens)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


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
        base_url = await resources.enter_async_context(serving(stack))
        served = await stack.http.get("/openapi.json")
        assert served.json() == API_DOCUMENT
        assert set(API_DOCUMENT["components"]["securitySchemes"]) == {STAFF_SCHEME, DEVICE_SCHEME}
        device_token, real = await _real_records(stack, program, env, sessions)
        REAL_IDS.update(real)
        return FuzzTarget(loop, stack, base_url, program, device_token)

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
    case: schemathesis.Case[Any], fuzz_target: FuzzTarget
) -> None:
    fuzz_target.validate(case, fuzz_target.send(case))
