"""Temporal is a trust boundary (SPEC 10.2): reaching Temporal is not enough to drive an incident.

An attacker on Temporal's port sends `close` as a supervisor: without the codec key the payload
is refused; with the codec key but not the API's decision key the validator refuses it. The same
holds for every message that changes an incident (follow-up task updates, SOS presses,
acknowledgements, and the messages the workflows send one another): unsigned, or copied from
another workflow's history, it changes nothing. A cancel request made at Temporal ends nothing:
the supervisors are paged. The API's own decisions still close the incident.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.decisions import Actor, Close, DecisionRequest
from domain.followup import CancelFollowUp, ClaimTask, FollowUpResult, followup_workflow_id
from domain.incident import SosPress
from domain.models import Notification
from domain.notification import (
    Acknowledgement,
    AttemptOutcome,
    LadderPlan,
    LadderPolicy,
    LadderPurpose,
    LadderRecipient,
    LadderResult,
    LadderStatus,
    RecipientType,
    StopLadder,
    ladder_workflow_id,
)
from domain.signed import SignedMessage
from domain.vocabulary import Channel, Role, TaskStatus
from infra.decision_signing import message_signature
from infra.signing_interceptors import DecisionSigning
from infra.temporal import data_converter_for
from tests.helpers.followup import start_followup
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram, add_emailed_sister
from tests.helpers.stack import DECISION_KEY, KEYRING, Stack
from tests.workflows.scenarios import CSSRS_MODERATE
from workflows import search_attributes as sa
from workflows.followup import FollowUpWorkflow
from workflows.incident import IncidentWorkflow
from workflows.notification import ContactLadderWorkflow

ATTACKER = "attacker"


def _forged_close(program: DemoProgram) -> DecisionRequest:
    return DecisionRequest(
        decision_id=uuid.uuid4(),
        actor=Actor(staff_id=ATTACKER, role=Role.SUPERVISOR, program_id=program.program.id),
        decision=Close(reason="closed from outside the API"),
    )


async def _still_open(stack: Stack, program: DemoProgram, incident_id: str) -> None:
    state = await detail(stack, program, incident_id)
    assert state["stage"] != "closed"
    assert ATTACKER not in str(state["decisions"])


def _with_codec(env: WorkflowEnvironment, *signing: DecisionSigning) -> Client:
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter_for(KEYRING),
        interceptors=list(signing),
    )


async def test_a_client_without_the_codec_key_cannot_close_an_incident(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await open_incident(stack, program)
    forged: dict[str, Any] = _forged_close(program).model_dump(mode="json")

    # A plain client: the JSON a Temporal CLI or UI user could type.
    handle = ts_env.client.get_workflow_handle(incident["workflow_id"])
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("close", forged)

    # Even the reason is sealed: without the key, the refusal says nothing.
    assert "Encoded failure" in str(refused.value.cause)
    await _still_open(stack, program, incident["id"])


async def test_a_signal_without_the_codec_key_is_dropped_and_the_incident_carries_on(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    """A plain signal is refused on decode and dropped; it does not stall the workflow, which
    still takes the API's next decision."""
    incident = await open_incident(stack, program)
    handle = ts_env.client.get_workflow_handle(incident["workflow_id"])

    await handle.signal("sos_pressed", {"at": "2026-01-01T00:00:00Z"})
    noted = await decide(stack, program, incident["id"], {"kind": "note", "text": "called back"})

    assert noted["sos_presses"] == 0
    assert [d["kind"] for d in noted["decisions"]][-1] == "note"


@pytest.mark.parametrize("signed_by", ["nobody", "another key"])
async def test_a_client_with_the_codec_key_but_not_the_api_key_cannot_close_an_incident(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment, signed_by: str
) -> None:
    incident = await open_incident(stack, program)
    signing = () if signed_by == "nobody" else (DecisionSigning(secrets.token_bytes(32)),)
    handle = _with_codec(ts_env, *signing).get_workflow_handle_for(
        IncidentWorkflow.run, incident["workflow_id"]
    )

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(IncidentWorkflow.close, _forged_close(program))

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "DecisionRefused"
    assert "signature" in cause.message
    await _still_open(stack, program, incident["id"])


async def test_a_signature_does_not_carry_over_to_another_actor(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    """Signed for the clinician, sent as the supervisor: the actor is part of what is signed."""
    incident = await open_incident(stack, program)
    honest = _forged_close(program).model_copy(
        update={
            "actor": Actor(
                staff_id=str(program.staff[Role.CLINICIAN].id),
                role=Role.CLINICIAN,
                program_id=program.program.id,
            )
        }
    )
    signature = message_signature(DECISION_KEY, incident["workflow_id"], "close", honest)
    forged = _forged_close(program).model_copy(
        update={"decision_id": honest.decision_id, "signature": signature}
    )
    handle = _with_codec(ts_env).get_workflow_handle_for(
        IncidentWorkflow.run, incident["workflow_id"]
    )

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(IncidentWorkflow.close, forged)

    assert "signature" in str(refused.value.cause)
    await _still_open(stack, program, incident["id"])


async def test_the_apis_own_decisions_still_close_the_incident(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)

    closed = await decide(
        stack, program, incident["id"], {"kind": "close", "reason": "resolved"}, Role.SUPERVISOR
    )

    assert closed["stage"] == "closed"
    [decision] = [d for d in closed["decisions"] if d["kind"] == "close"]
    assert decision["actor_id"] == str(program.staff[Role.SUPERVISOR].id)


async def test_search_attributes_carry_stage_and_program_only(
    stack: Stack, program: DemoProgram
) -> None:
    """Temporal indexes them in clear: no crisis type, no risk (an `overdose` incident would mark
    a client as in substance-use treatment)."""
    incident = await open_incident(stack, program, "suicidal_ideation")
    await decide(stack, program, incident["id"], CSSRS_MODERATE)

    described = await stack.client.get_workflow_handle(incident["workflow_id"]).describe()

    searchable = {
        pair.key.name: pair.value
        for pair in described.typed_search_attributes
        if pair.key.name.startswith("CrisisDesk")
    }
    assert searchable == {
        "CrisisDeskStage": described.typed_search_attributes[sa.STAGE],
        "CrisisDeskProgram": str(program.program.id),
    }
    info = str(described.raw_description.workflow_execution_info)
    assert "suicidal" not in info
    assert "moderate" not in info


# --- every message that changes an incident is signed, not only decisions ----------------------

M = TypeVar("M", bound=SignedMessage)


def _copied_from(workflow_id: str, name: str, message: M) -> M:
    """As a keyless attacker finds it in another workflow's history: signed, but for that one."""
    return message.model_copy(
        update={"signature": message_signature(DECISION_KEY, workflow_id, name, message)}
    )


async def test_an_unsigned_sos_press_is_dropped_and_the_incident_carries_on(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    incident = await open_incident(stack, program)
    handle = _with_codec(ts_env).get_workflow_handle_for(
        IncidentWorkflow.run, incident["workflow_id"]
    )

    await handle.signal(IncidentWorkflow.sos_pressed, SosPress(at=datetime.now(UTC)))
    copied = _copied_from(f"incident-{uuid.uuid4()}", "sos_pressed", SosPress(at=datetime.now(UTC)))
    await handle.signal(IncidentWorkflow.sos_pressed, copied)
    noted = await decide(stack, program, incident["id"], {"kind": "note", "text": "called back"})

    assert noted["sos_presses"] == 0
    # The API's own client signs: the same press through it counts.
    await stack.client.get_workflow_handle_for(
        IncidentWorkflow.run, incident["workflow_id"]
    ).signal(IncidentWorkflow.sos_pressed, SosPress(at=datetime.now(UTC)))

    async def counted() -> dict[str, Any] | None:
        state = await detail(stack, program, incident["id"])
        return state if state["sos_presses"] == 1 else None

    await eventually(counted, "the signed press counted")


async def test_an_unsigned_task_claim_is_refused(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    followup, _ = await start_followup(stack, program, sessions)
    [first, *_] = await followup.query(FollowUpWorkflow.tasks)
    claim = ClaimTask(task_id=first.task_id, staff_id=uuid.uuid4(), role=Role.FOLLOWUP)
    handle = _with_codec(ts_env).get_workflow_handle_for(FollowUpWorkflow.run, followup.id)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(FollowUpWorkflow.claim_task, claim)

    assert "signature" in str(refused.value.cause)
    [still, *_] = await followup.query(FollowUpWorkflow.tasks)
    assert still.status is TaskStatus.REQUESTED
    assert still.assignee_id is None


async def test_a_cancel_copied_from_another_followup_or_naming_another_incident_is_ignored(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    followup, _ = await start_followup(stack, program, sessions)
    elsewhere = uuid.uuid4()
    other = CancelFollowUp(reason="incident closed", incident_id=elsewhere)

    copied = _copied_from(followup_workflow_id(elsewhere), "cancel_all", other)
    await (
        _with_codec(ts_env)
        .get_workflow_handle(followup.id)
        .signal(FollowUpWorkflow.cancel_all, copied)
    )
    # Signed for this follow-up, yet about another incident: the handler ignores it too.
    await followup.signal(FollowUpWorkflow.cancel_all, other)
    # A signal is handled in order: once this one is in, the two before it were seen.
    [first, *_] = await followup.query(FollowUpWorkflow.tasks)
    await followup.execute_update(
        FollowUpWorkflow.claim_task,
        ClaimTask(
            task_id=first.task_id, staff_id=program.staff[Role.FOLLOWUP].id, role=Role.FOLLOWUP
        ),
    )

    tasks = await followup.query(FollowUpWorkflow.tasks)
    assert TaskStatus.CANCELLED not in {t.status for t in tasks}


async def test_a_followup_result_about_another_incident_does_not_close_this_one(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, plan = await start_followup(stack, program, sessions)
    workflow_id = f"incident-{plan.incident_id}"
    elsewhere = uuid.uuid4()
    finished = FollowUpResult(incident_id=elsewhere, tasks=[])

    copied = _copied_from(f"incident-{elsewhere}", "followup_finished", finished)
    await (
        _with_codec(ts_env)
        .get_workflow_handle(workflow_id)
        .signal(IncidentWorkflow.followup_finished, copied)
    )
    await stack.client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id).signal(
        IncidentWorkflow.followup_finished, finished
    )
    noted = await decide(stack, program, str(plan.incident_id), {"kind": "note", "text": "ok"})

    assert noted["stage"] == "follow_up"


async def test_a_cancel_request_at_temporal_pages_every_supervisor_and_ends_nothing(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program)
    handle = stack.client.get_workflow_handle(incident["workflow_id"])

    await handle.cancel()

    async def paged() -> dict[str, Any] | None:
        state = await detail(stack, program, incident["id"])
        refused = [p for p in state["pages"] if p["page_id"].startswith("cancel-refused")]
        return refused[0] if refused else None

    page = await eventually(paged, "the supervisors paged")
    assert page["target"] == "all_supervisors"
    noted = await decide(stack, program, incident["id"], {"kind": "note", "text": "still here"})
    assert noted["stage"] != "closed"
    closed = await decide(
        stack, program, incident["id"], {"kind": "close", "reason": "resolved"}, Role.SUPERVISOR
    )
    assert closed["stage"] == "closed"
    await handle.result()  # it ends as the API closed it, not as cancelled


# --- the contact ladder: only its incident stops it, only its recipients acknowledge -----------


async def _climbing_ladder(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> tuple[WorkflowHandle[ContactLadderWorkflow, LadderResult], uuid.UUID, uuid.UUID]:
    """A ladder that has mailed the client's sister and waits for her acknowledgement."""
    sister = await add_emailed_sister(sessions, program)
    incident = await open_incident(stack, program)
    high = {**CSSRS_MODERATE, "risk_override": "high", "justification": "Plan disclosed"}
    await decide(stack, program, incident["id"], high)
    notified = await decide(
        stack,
        program,
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [str(sister.id)],
            "basis": "serious_imminent_threat",
        },
    )
    ladder_id = uuid.UUID(notified["ladders"][0]["ladder_id"])
    handle = stack.client.get_workflow_handle_for(
        ContactLadderWorkflow.run, ladder_workflow_id(uuid.UUID(incident["id"]), ladder_id)
    )

    async def sent() -> bool:
        attempts = await handle.query(ContactLadderWorkflow.attempts)
        return any(a.outcome is AttemptOutcome.SENT for a in attempts)

    await eventually(sent, "the sister mailed")
    return handle, ladder_id, sister.id


async def test_forged_stops_and_acknowledgements_leave_the_ladder_climbing(
    reachable_stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle, ladder_id, sister = await _climbing_ladder(reachable_stack, program, sessions)
    other_ladder = ladder_workflow_id(uuid.uuid4(), uuid.uuid4())
    forged = Acknowledgement(ladder_id=ladder_id, recipient_id=sister, via="forged")
    unsigned = _with_codec(ts_env).get_workflow_handle(handle.id)

    await unsigned.signal("stop")  # what `temporal workflow signal --name stop` sends
    await unsigned.signal(
        ContactLadderWorkflow.stop_ladder,
        _copied_from(other_ladder, "stop_ladder", StopLadder(ladder_id=ladder_id)),
    )
    await unsigned.signal(
        ContactLadderWorkflow.acknowledge, _copied_from(other_ladder, "acknowledge", forged)
    )
    # Signed for this ladder, yet naming another ladder or someone it never tried.
    await handle.signal(ContactLadderWorkflow.stop_ladder, StopLadder(ladder_id=uuid.uuid4()))
    await handle.signal(
        ContactLadderWorkflow.acknowledge, forged.model_copy(update={"ladder_id": uuid.uuid4()})
    )
    await handle.signal(
        ContactLadderWorkflow.acknowledge, forged.model_copy(update={"recipient_id": uuid.uuid4()})
    )
    await handle.signal(
        ContactLadderWorkflow.acknowledge, forged.model_copy(update={"via": "link:email"})
    )

    result = await handle.result()
    assert result.status is LadderStatus.ACKNOWLEDGED
    assert result.acknowledged_via == "link:email"


async def test_a_cancel_request_at_temporal_pages_every_supervisor_and_the_ladder_climbs_on(
    reachable_stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    handle, ladder_id, sister = await _climbing_ladder(reachable_stack, program, sessions)

    await handle.cancel()

    async def paged() -> list[Notification] | None:
        async with sessions() as session:
            found = await session.exec(
                select(Notification).where(
                    col(Notification.idempotency_key).contains(f"ladder-{ladder_id}-cancel-refused")
                )
            )
            return list(found.all()) or None

    pages = await eventually(paged, "the supervisors paged")
    supervisor = str(program.staff[Role.SUPERVISOR].id)
    assert supervisor in {p.recipient_id for p in pages}
    await handle.signal(
        ContactLadderWorkflow.acknowledge,
        Acknowledgement(ladder_id=ladder_id, recipient_id=sister, via="link:email"),
    )
    result = await handle.result()
    assert result.status is LadderStatus.ACKNOWLEDGED


async def test_a_ladder_started_without_the_apis_signature_messages_nobody(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """With the codec key, an attacker starts a ladder of their own for the client's sister."""
    sister = await add_emailed_sister(sessions, program)
    incident = await open_incident(stack, program)
    plan = LadderPlan(
        ladder_id=uuid.uuid4(),
        incident_id=uuid.UUID(incident["id"]),
        program_id=program.program.id,
        purpose=LadderPurpose.EMERGENCY_CONTACT,
        recipients=[
            LadderRecipient(
                recipient_type=RecipientType.CONTACT,
                recipient_id=sister.id,
                channels=(Channel.EMAIL,),
            )
        ],
        policy=LadderPolicy(),
    )

    with pytest.raises(WorkflowFailureError) as refused:
        await _with_codec(ts_env).execute_workflow(
            ContactLadderWorkflow.run,
            plan,
            id=ladder_workflow_id(plan.incident_id, plan.ladder_id),
            task_queue=stack.task_queue,
        )

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "UnsignedStart"
    async with sessions() as session:
        sent = await session.exec(
            select(Notification).where(Notification.recipient_id == str(sister.id))
        )
        assert list(sent.all()) == []
