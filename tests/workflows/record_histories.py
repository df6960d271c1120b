"""Record incident workflow histories for the replay test (run when a change is intended):

    .venv/bin/python -m tests.workflows.record_histories

Histories are encrypted with a test-only key kept beside them; they hold only demo data.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

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
from tests.workflows.scenarios import ASSESSMENTS, DEESCALATED, DISPATCH_911, disposition
from worker import build_worker
from workflows.incident import DECISION_UPDATES, IncidentWorkflow

HISTORIES = Path(__file__).parent / "histories"
KEYRING_FILE = HISTORIES / "replay-keyring.txt"
DECISIONS: TypeAdapter[Decision] = TypeAdapter(Decision)
CANCEL_REQUEST = "cancel request"


def replay_keyring() -> Keyring:
    return Keyring.parse(KEYRING_FILE.read_text().strip())


async def _scenario(
    client: Client,
    env: WorkflowEnvironment,
    program: DemoProgram,
    task_queue: str,
    crisis_type: CrisisType,
    steps: list[tuple[Role, dict[str, Any] | timedelta | str]],
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


async def record() -> None:
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
        close = (Role.SUPERVISOR, {"kind": "close", "reason": "Stable, follow-up booked"})
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
        scenarios = {
            "suicidal_paged_then_closed": (
                CrisisType.SUICIDAL_IDEATION,
                [
                    (Role.CLINICIAN, timedelta(minutes=11)),
                    (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                    (Role.CLINICIAN, DEESCALATED),
                    (Role.CLINICIAN, disposition(with_safety_plan=True)),
                    close,
                ],
            ),
            "overdose_dispatched_then_closed": (
                CrisisType.OVERDOSE,
                [
                    (Role.CLINICIAN, {**ASSESSMENTS[CrisisType.OVERDOSE]}),
                    (Role.CLINICIAN, timedelta(minutes=2)),
                    (Role.CLINICIAN, {**DISPATCH_911, "location": {"zip": "97201"}}),
                    (Role.CLINICIAN, {"kind": "escalate", "reason": "Family on the line"}),
                    (Role.CLINICIAN, disposition(with_safety_plan=False)),
                    close,
                ],
            ),
            "psychosis_911_unconfirmed_paged_v2": (
                CrisisType.PSYCHOSIS,
                [
                    (Role.CLINICIAN, {**ASSESSMENTS[CrisisType.PSYCHOSIS]}),
                    (Role.CLINICIAN, {**DISPATCH_911, "location": {"zip": "97201"}}),
                    (Role.CLINICIAN, timedelta(minutes=16)),
                    (Role.CLINICIAN, disposition(with_safety_plan=False)),
                    close,
                ],
            ),
            "suicidal_lost_contact_and_family_ladder_v2": (
                CrisisType.SUICIDAL_IDEATION,
                [
                    (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                    (Role.CLINICIAN, {"kind": "contact_lost", "channel": "video"}),
                    (Role.CLINICIAN, timedelta(minutes=11)),
                    (Role.CLINICIAN, {"kind": "contact_restored", "how": "She called back"}),
                    (
                        Role.CLINICIAN,
                        {
                            "kind": "notify_contacts",
                            "contact_ids": [context["sister"]],
                            "basis": "serious_imminent_threat",
                            "justification": "Told us she is not safe tonight",
                        },
                    ),
                    (Role.CLINICIAN, timedelta(minutes=20)),
                    close,
                ],
            ),
            "panic_cancelled": (
                CrisisType.PANIC,
                [(Role.CLINICIAN, {"kind": "cancel", "reason": "entered in error"})],
            ),
            # IncidentWorkflowV2: effects as tasks, alarms on the backoff, follow-up kept by a
            # close unless cancelled, continue-as-new carrying the state.
            "v2_overdose_dispatch_first_transported_then_closed": (
                CrisisType.OVERDOSE,
                [
                    (Role.CLINICIAN, {**DISPATCH_911, "location": {"zip": "97201"}}),
                    (Role.CLINICIAN, {**ASSESSMENTS[CrisisType.OVERDOSE]}),
                    (Role.CLINICIAN, {"kind": "dispatch_update", "status": "transported"}),
                    (Role.CLINICIAN, {"kind": "disposition", "outcome": "transported_er"}),
                    (Role.CLINICIAN, timedelta(minutes=1)),
                    (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
                ],
            ),
            "v2_family_ladder_reached_reassigned_cancelled_followup": (
                CrisisType.SUICIDAL_IDEATION,
                [
                    (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                    (
                        Role.CLINICIAN,
                        {
                            "kind": "notify_contacts",
                            "contact_ids": [context["sister"]],
                            "basis": "serious_imminent_threat",
                            "justification": "Told us she is not safe tonight",
                            "emergency_nature": "Plan disclosed",
                        },
                    ),
                    (
                        Role.CLINICIAN,
                        {"kind": "contact_reached", "contact_id": context["sister"], "how": "Call"},
                    ),
                    (Role.CLINICIAN, {"kind": "note", "text": "Sister on her way"}),
                    (
                        Role.SUPERVISOR,
                        {
                            "kind": "reassign",
                            "owner_id": str(program.staff[Role.SUPERVISOR].id),
                            "reason": "Taking over",
                        },
                    ),
                    (Role.CLINICIAN, disposition(with_safety_plan=True)),
                    (Role.CLINICIAN, timedelta(hours=30)),
                    (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
                ],
            ),
            # Signed starts and signals, reclassify: an SOS-like `other` incident becomes a
            # withdrawal, its protocol applies from then on.
            "v2_signed_reclassified_to_withdrawal_then_closed": (
                CrisisType.OTHER,
                [
                    (
                        Role.CLINICIAN,
                        {
                            "kind": "reclassify",
                            "crisis_type": "withdrawal",
                            "reason": "Shaking, sweating, last drink 20 hours ago",
                        },
                    ),
                    (Role.CLINICIAN, ASSESSMENTS[CrisisType.WITHDRAWAL]),
                    (Role.CLINICIAN, DEESCALATED),
                    (Role.CLINICIAN, disposition(with_safety_plan=True)),
                    (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
                ],
            ),
            # A Temporal cancel request refused (paged, audited) while the family ladder runs
            # (it ends exhausted: no channel is configured here), then follow-up cancelled.
            "v2_signed_cancel_refused_ladder_exhausted_then_closed": (
                CrisisType.SUICIDAL_IDEATION,
                [
                    (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                    (
                        Role.CLINICIAN,
                        {
                            "kind": "notify_contacts",
                            "contact_ids": [context["sister"]],
                            "basis": "serious_imminent_threat",
                            "justification": "Told us she is not safe tonight",
                        },
                    ),
                    (Role.CLINICIAN, CANCEL_REQUEST),
                    (Role.CLINICIAN, timedelta(minutes=1)),
                    (Role.CLINICIAN, disposition(with_safety_plan=True)),
                    (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
                ],
            ),
            # Unassessed for 20 days: the newest run starts from the state it carried.
            "v2_unassessed_continued_as_new_then_closed": (
                CrisisType.PANIC,
                [
                    (Role.CLINICIAN, timedelta(days=20)),
                    (Role.CLINICIAN, ASSESSMENTS[CrisisType.PANIC]),
                    close,
                ],
            ),
        }
        try:
            task_queue = f"record-{uuid.uuid4()}"
            settings = Settings(
                database_url=url,
                data_dir=Path(tmp),
                task_queue=task_queue,
                encryption_keys=keyring.render(),
            )
            async with build_worker(client, settings=settings, sessions=sessions):
                for name, (crisis_type, steps) in scenarios.items():
                    target = HISTORIES / f"{name}.json"
                    if target.exists():  # a recorded history is evidence; never overwrite it
                        continue
                    recorded = await _scenario(
                        client, env, program, task_queue, crisis_type, steps, context
                    )
                    target.write_text(recorded)
                    print(f"recorded {name}")
        finally:
            await env.shutdown()
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(record())
