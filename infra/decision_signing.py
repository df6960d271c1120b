"""Signed messages (SPEC 10.2): Temporal is a trust boundary, so a message that changes an
incident counts only when it carries a signature made with a key Temporal never sees.

Every workflow input and every signal and Update argument that changes state is a
`SignedMessage` (domain/signed.py): openings and plans, decisions, follow-up task claims and
completions, acknowledgements, SOS presses, and the messages the workflows send one another (a
ladder's or the follow-up's report, stop and cancel requests). `DecisionSigning` is one
interceptor for every side of the boundary:

- a client (the API, the CLI's outbox) signs each `SignedMessage` it starts a workflow with or
  sends as a signal or Update;
- a workflow signs each one it starts a child with, continues as new with, or signals to another
  workflow (the worker holds the key and HMAC is deterministic, so replay makes the same command);
- a workflow refuses an Update without a valid signature in its validator chain (nothing reaches
  history), drops such a signal with a warning (the workflow task never fails), and fails at once,
  before doing anything, when its own input is not signed; a handler never sees a signature,
  only a checked message.

The signature covers the target workflow, the signal or Update name and the whole message, so it
cannot be changed, nor copied onto another workflow or another handler. `CRISISDESK_DECISION_KEY`
may list several keys (the first signs, all verify), so a key rotation never turns the replay of
an older history into a nondeterminism error. Validators do not run on replay; signal handlers
and the run do, so those checks apply from `SIGNED_SIGNALS_PATCH` and `SIGNED_STARTS_PATCH` on:
histories recorded before them replay their unsigned signals and inputs as they ran.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from temporalio import client, workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from domain.signed import SignedMessage
from infra.settings import Settings
from workflows.decision_updates import DecisionRefusedError

DEV_DECISION_KEY_FILE = "decision.key"
SIGNED_SIGNALS_PATCH = "signals-need-signature"
SIGNED_STARTS_PATCH = "starts-need-signature"
_SCHEME = "v1"


def decision_keys_for(settings: Settings) -> tuple[bytes, ...]:
    """`CRISISDESK_DECISION_KEY` (comma-separated: the first signs, every one verifies), or in
    development a key kept under the data directory."""
    if settings.decision_key:
        return tuple(base64.b64decode(k.strip()) for k in settings.decision_key.split(","))
    path = settings.data_dir / DEV_DECISION_KEY_FILE
    if not path.exists():
        _write_once(path, base64.b64encode(secrets.token_bytes(32)).decode())
    return (base64.b64decode(path.read_text().strip()),)


def _write_once(path: Path, content: str) -> None:
    """Written whole under a temporary name, then linked: a process starting at the same
    moment either wins or reads the complete file of the one that did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    try:
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()


def message_signature(key: bytes, workflow_id: str, name: str, message: SignedMessage) -> str:
    """The signature of `message` sent as signal or Update `name` to the workflow `workflow_id`."""
    body = message.model_dump(mode="json", exclude={"signature"})
    digest = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    text = "\n".join(("crisisdesk-message", _SCHEME, workflow_id, name, digest))
    return f"{_SCHEME}={hmac.new(key, text.encode(), hashlib.sha256).hexdigest()}"


def signature_valid(
    keys: Sequence[bytes], workflow_id: str, name: str, message: SignedMessage
) -> bool:
    if not message.signature:
        return False
    given = message.signature.encode()
    return any(
        hmac.compare_digest(given, message_signature(key, workflow_id, name, message).encode())
        for key in keys
    )


def signed_by_api(keys: Sequence[bytes], workflow_id: str, name: str, args: Sequence[Any]) -> bool:
    """At least one message, and every message signed: an argument-less signal is unsigned."""
    messages = [arg for arg in args if isinstance(arg, SignedMessage)]
    return bool(messages) and all(signature_valid(keys, workflow_id, name, m) for m in messages)


def input_signed(keys: Sequence[bytes], workflow_id: str, name: str, args: Sequence[Any]) -> bool:
    """Every message of a workflow's input signed for this workflow and its type (every
    CrisisDesk workflow takes one; a workflow of another input has nothing to check)."""
    return all(
        signature_valid(keys, workflow_id, name, arg)
        for arg in args
        if isinstance(arg, SignedMessage)
    )


def sign_all(key: bytes, workflow_id: str, name: str, args: Sequence[Any]) -> list[Any]:
    return [
        arg.model_copy(
            update={"signature": message_signature(key, workflow_id, name, _cleared(arg))}
        )
        if isinstance(arg, SignedMessage)
        else arg
        for arg in args
    ]


def clear_all(args: Sequence[Any]) -> list[Any]:
    """What a handler is given: the checked messages, without their signatures."""
    return [_cleared(arg) if isinstance(arg, SignedMessage) else arg for arg in args]


def _cleared(message: SignedMessage) -> SignedMessage:
    return message.model_copy(update={"signature": None}) if message.signature else message


def unsigned_refusal(name: str, args: Sequence[Any]) -> DecisionRefusedError:
    signatures = [a.signature for a in args if isinstance(a, SignedMessage)]
    why = "not the API's" if any(signatures) else "missing"
    return DecisionRefusedError(
        f"the {name} request's signature is {why}: only the CrisisDesk API may change an incident",
        {"status": 403, "code": "unsigned_decision", "detail": "the request is not signed"},
        type="DecisionRefused",
        non_retryable=True,
    )


class _SigningClient(client.OutboundInterceptor):
    def __init__(self, next_: client.OutboundInterceptor, key: bytes) -> None:
        super().__init__(next_)
        self._key = key

    async def signal_workflow(self, input: client.SignalWorkflowInput) -> None:
        input.args = sign_all(self._key, input.id, input.signal, input.args)
        await super().signal_workflow(input)

    async def start_workflow_update(
        self, input: client.StartWorkflowUpdateInput
    ) -> client.WorkflowUpdateHandle[Any]:
        input.args = sign_all(self._key, input.id, input.update, input.args)
        return await super().start_workflow_update(input)

    async def start_workflow(
        self, input: client.StartWorkflowInput
    ) -> client.WorkflowHandle[Any, Any]:
        input.args = sign_all(self._key, input.id, input.workflow, input.args)
        return await super().start_workflow(input)


class _SigningWorkflow(WorkflowOutboundInterceptor):
    def __init__(self, next_: WorkflowOutboundInterceptor, key: bytes) -> None:
        super().__init__(next_)
        self._key = key

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        input.args = sign_all(self._key, input.workflow_id, input.signal, input.args)
        await super().signal_external_workflow(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        input.args = sign_all(self._key, input.child_workflow_id, input.signal, input.args)
        await super().signal_child_workflow(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        input.args = sign_all(self._key, input.id, input.workflow, input.args)
        return await super().start_child_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        info = workflow.info()
        name = input.workflow or info.workflow_type
        input.args = sign_all(self._key, info.workflow_id, name, input.args)
        super().continue_as_new(input)


class DecisionSigning(client.Interceptor, Interceptor):
    """Signs on the way into Temporal; checks, and clears, before any workflow handler.
    `key` signs; `key` and each of `retired` verify."""

    def __init__(self, key: bytes, *retired: bytes) -> None:
        self._key = key
        self._keys = (key, *retired)

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _SigningClient(next, self._key)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        key, keys = self._key, self._keys

        class _CheckingInbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_SigningWorkflow(outbound, key))

            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                info = workflow.info()
                if not input_signed(keys, info.workflow_id, info.workflow_type, input.args) and (
                    workflow.patched(SIGNED_STARTS_PATCH)
                ):
                    raise ApplicationError(
                        f"{info.workflow_type} was started without the API's signature",
                        type="UnsignedStart",
                        non_retryable=True,
                    )
                input.args = clear_all(input.args)
                return await super().execute_workflow(input)

            async def handle_signal(self, input: HandleSignalInput) -> None:
                workflow_id = workflow.info().workflow_id
                if not signed_by_api(keys, workflow_id, input.signal, input.args) and (
                    workflow.patched(SIGNED_SIGNALS_PATCH)
                ):
                    workflow.logger.warning(
                        "signal %s dropped: not signed by the CrisisDesk API", input.signal
                    )
                    return
                input.args = clear_all(input.args)
                await super().handle_signal(input)

            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                workflow_id = workflow.info().workflow_id
                if not signed_by_api(keys, workflow_id, input.update, input.args):
                    raise unsigned_refusal(input.update, input.args)
                super().handle_update_validator(
                    HandleUpdateInput(
                        id=input.id,
                        update=input.update,
                        args=clear_all(input.args),
                        headers=input.headers,
                    )
                )

            async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
                input.args = clear_all(input.args)
                return await super().handle_update_handler(input)

        return _CheckingInbound
