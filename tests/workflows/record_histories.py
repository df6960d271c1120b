"""Record workflow histories for the replay test (run when a change is intended):

    .venv/bin/python -m tests.workflows.record_histories [SCENARIO ...]

With scenario names, only those are recorded; without, every scenario not recorded yet. An
existing file is never overwritten. Histories are encrypted with a test-only key kept beside
them; they hold only demo data.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.channels import ConsoleChannel
from domain.decisions import Actor, ContactOnFile, Decision, DecisionRequest, DisclosureContext
from domain.disclosure import ContactFacts
from domain.incident import IncidentOpening, workflow_id_for
from domain.models import Client as ClientRecord
from domain.models.clients import EmergencyContactCreate
from domain.protocols import protocol_for
from domain.vocabulary import Channel, ContactKind, CrisisType, DecisionKind, Role
from infra.binaries import temporal_test_server
from infra.codec import Keyring
from infra.db import make_async_engine, session_factory, transaction
from infra.migrate import upgrade_database
from infra.records import add_contact
from infra.settings import Settings
from infra.signing_interceptors import DecisionSigning
from infra.temporal import data_converter_for, ensure_search_attributes
from tests.helpers.programs import DemoProgram, make_program
from tests.workflows.record_oncall import record_oncall
from tests.workflows.recorded_incidents import (
    CANCEL_REQUEST,
    LADDER_STOPPED,
    Steps,
    incident_scenarios,
)
from worker import build_worker
from workflows.incident import DECISION_UPDATES, IncidentWorkflow

HISTORIES = Path(__file__).parent / "histories"
KEYRING_FILE = HISTORIES / "replay-keyring.txt"
DECISIONS: TypeAdapter[Decision] = TypeAdapter(Decision)
# Scenarios of other workflows than the incident's: each records one history of its own.
Recorder = Callable[
    [
        Client,
        WorkflowEnvironment,
        DemoProgram,
        Settings,
        AsyncEngine,
        async_sessionmaker[AsyncSession],
    ],
    Awaitable[str],
]
OTHER_SCENARIOS: dict[str, Recorder] = {
    "v1_oncall_three_clinicians_two_handoffs_and_an_override": record_oncall,
}


def replay_keyring() -> Keyring:
    return Keyring.parse(KEYRING_FILE.read_text().strip())


async def _scenario(
    client: Client,
    env: WorkflowEnvironment,
    program: DemoProgram,
    task_queue: str,
    crisis_type: CrisisType,
    steps: Steps,
    context: dict[str, Any],
) -> str:
    incident_id = uuid.uuid4()
    clinician = program.staff[Role.CLINICIAN]
    opening = IncidentOpening(
        incident_id=incident_id,
        program_id=program.program.id,
        client_id=program.client.id,
        crisis_type=crisis_type,
        summary="Recorded scenario",
        owner_id=clinician.id,
        opened_by=Actor(
            staff_id=str(clinician.id), role=Role.CLINICIAN, program_id=program.program.id
        ),
        opened_at=datetime.now(UTC),
        protocol=protocol_for(crisis_type),
    )
    handle = await client.start_workflow(
        IncidentWorkflow.run, opening, id=workflow_id_for(incident_id), task_queue=task_queue
    )
    for role, step in steps:
        if isinstance(step, timedelta):
            await env.sleep(step)
            continue
        if step == CANCEL_REQUEST:  # someone with Temporal access asks to cancel the incident
            await handle.cancel()
            continue
        assert isinstance(step, dict)
        if step.get("kind") == "dispatch_update" and "dispatch_id" not in step:
            current = await handle.query(IncidentWorkflow.current)
            step = {**step, "dispatch_id": str(current.dispatches[-1].dispatch_id)}
        decision = DECISIONS.validate_python(step)
        staff = program.staff[role]
        await handle.execute_update(
            DECISION_UPDATES[DecisionKind(decision.kind)],
            DecisionRequest(
                decision_id=uuid.uuid4(),
                actor=Actor(staff_id=str(staff.id), role=role, program_id=program.program.id),
                decision=decision,
                disclosure=context.get("disclosure")
                if decision.kind == "notify_contacts"
                else None,
                client_channels=(
                    context.get("client_channels") if decision.kind == "contact_lost" else None
                ),
                # As the API does: the new type's protocol travels with a reclassify.
                protocol=protocol_for(CrisisType(step["crisis_type"]))
                if decision.kind == "reclassify"
                else None,
            ),
        )
    await handle.result()
    history = await handle.fetch_history()
    return history.to_json()


async def record(only: frozenset[str] = frozenset()) -> None:
    """Record the scenarios named in `only` (all when empty) that have no file yet."""
    HISTORIES.mkdir(exist_ok=True)
    if not KEYRING_FILE.exists():
        KEYRING_FILE.write_text(Keyring.generate("replay1").render() + "\n")
    keyring = replay_keyring()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/record.db"
        upgrade_database(url)
        engine = make_async_engine(url)
        sessions = session_factory(engine)
        program = await make_program(sessions)
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server()
        )
        await ensure_search_attributes(env.client)
        client = Client(
            env.client.service_client,
            namespace=env.client.namespace,
            data_converter=data_converter_for(keyring),
            # Signs as the API does (its worker checks): replay takes any key for these.
            interceptors=[DecisionSigning(secrets.token_bytes(32))],
        )
        async with transaction(sessions) as session:
            client_row = await session.get(ClientRecord, program.client.id)
            assert client_row is not None
            sister = await add_contact(
                session,
                client=client_row,
                data=EmergencyContactCreate(
                    name="Lia Ruiz",
                    relationship="sister",
                    kind=ContactKind.PERSONAL,
                    phone="+15035550101",
                    channels=[Channel.SMS],
                ),
            )
        context: dict[str, Any] = {
            "client_channels": (Channel.SMS, Channel.EMAIL),
            "disclosure": DisclosureContext(
                contacts=[
                    ContactOnFile(
                        facts=ContactFacts(
                            contact_id=sister.id, kind=ContactKind.PERSONAL, name="Lia Ruiz"
                        ),
                        channels=(Channel.SMS,),
                        priority=1,
                    )
                ],
                consents=[],
            ),
            "sister": str(sister.id),
        }
        scenarios = incident_scenarios(program, context)
        try:
            task_queue = f"record-{uuid.uuid4()}"
            settings = Settings(
                database_url=url,
                data_dir=Path(tmp),
                task_queue=task_queue,
                encryption_keys=keyring.render(),
            )
            unknown = only - set(scenarios) - set(OTHER_SCENARIOS)
            if unknown:
                raise SystemExit(f"no such scenario: {', '.join(sorted(unknown))}")
            # A second worker whose SMS reaches the console, for the scenarios that need one.
            delivering = settings.model_copy(update={"task_queue": f"{task_queue}-delivering"})
            async with (
                build_worker(client, settings=settings, sessions=sessions),
                build_worker(
                    client,
                    settings=delivering,
                    sessions=sessions,
                    channels={Channel.SMS: ConsoleChannel()},
                ),
            ):
                for name, (crisis_type, steps) in scenarios.items():
                    target = HISTORIES / f"{name}.json"
                    if (only and name not in only) or target.exists():  # never overwritten
                        continue
                    queue = delivering.task_queue if name == LADDER_STOPPED else task_queue
                    recorded = await _scenario(
                        client, env, program, queue, crisis_type, steps, context
                    )
                    target.write_text(recorded)
                    print(f"recorded {name}")
                for name, recorder in OTHER_SCENARIOS.items():
                    target = HISTORIES / f"{name}.json"
                    if (only and name not in only) or target.exists():
                        continue
                    recorded = await recorder(client, env, program, settings, engine, sessions)
                    target.write_text(recorded)
                    print(f"recorded {name}")
        finally:
            await env.shutdown()
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(record(frozenset(sys.argv[1:])))
