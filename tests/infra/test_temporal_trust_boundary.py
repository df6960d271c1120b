"""Temporal is a trust boundary (SPEC 10.2): reaching Temporal is not enough to drive an incident.

An attacker on Temporal's port sends `close` as a supervisor: without the codec key the payload
is refused; with the codec key but not the API's decision key the validator refuses it. The
API's own decisions still close the incident.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.decisions import Actor, Close, DecisionRequest
from domain.vocabulary import Role
from infra.decision_signing import DecisionSigning, decision_signature
from infra.temporal import data_converter_for
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import DECISION_KEY, KEYRING, Stack
from tests.workflows.scenarios import CSSRS_MODERATE
from workflows import search_attributes as sa
from workflows.incident import IncidentWorkflow

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
    signature = decision_signature(DECISION_KEY, incident["workflow_id"], "close", honest)
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
