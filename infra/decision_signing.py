"""Signed decisions (SPEC 10.2): Temporal is a trust boundary, so a decision counts only when
the API signed it with a key Temporal never sees.

`DecisionSigning` is one interceptor for both sides of the boundary. On a client it signs every
`DecisionRequest` sent as an Update (the API's decisions and the dispatch provider's callbacks);
on a worker it checks the signature in the Update's validator chain, before the workflow's own
validator, and refuses a decision without a valid one (a rejected Update: nothing reaches history,
the workflow task does not fail). Both come from `connect_temporal`: a worker inherits its
client's interceptors, so the API and the worker share `CRISISDESK_DECISION_KEY`.

The signature covers the workflow (the incident), the Update's name, the decision's kind and id,
the actor (role, staff id, program) and a digest of the whole request, so none can be changed or
replayed onto another incident. Validators do not run on replay: recorded histories replay
whatever key the worker holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from temporalio import client, workflow
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from domain.decisions import DecisionRequest
from infra.settings import Settings
from workflows.decision_updates import DecisionRefusedError

DEV_DECISION_KEY_FILE = "decision.key"
_SCHEME = "v1"


def decision_key_for(settings: Settings) -> bytes:
    """`CRISISDESK_DECISION_KEY`, or in development a key kept under the data directory."""
    if settings.decision_key:
        return base64.b64decode(settings.decision_key.strip())
    path = settings.data_dir / DEV_DECISION_KEY_FILE
    if not path.exists():
        _write_once(path, base64.b64encode(secrets.token_bytes(32)).decode())
    return base64.b64decode(path.read_text().strip())


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


def decision_signature(key: bytes, workflow_id: str, update: str, request: DecisionRequest) -> str:
    """The API's signature of `request` sent as Update `update` to the workflow `workflow_id`."""
    body = request.model_dump(mode="json", exclude={"signature"})
    digest = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    actor = request.actor
    message = "\n".join(
        (
            "crisisdesk-decision",
            _SCHEME,
            workflow_id,
            update,
            str(request.decision.kind),
            str(request.decision_id),
            str(actor.role),
            actor.staff_id,
            str(actor.program_id),
            digest,
        )
    )
    return f"{_SCHEME}={hmac.new(key, message.encode(), hashlib.sha256).hexdigest()}"


def signature_valid(key: bytes, workflow_id: str, update: str, request: DecisionRequest) -> bool:
    if not request.signature:
        return False
    expected = decision_signature(key, workflow_id, update, request)
    return hmac.compare_digest(request.signature.encode(), expected.encode())


def unsigned_refusal(request: DecisionRequest) -> DecisionRefusedError:
    why = "missing" if not request.signature else "not the API's"
    return DecisionRefusedError(
        f"the decision's signature is {why}: only the CrisisDesk API may decide",
        {"status": 403, "code": "unsigned_decision", "detail": "the decision is not signed"},
        type="DecisionRefused",
        non_retryable=True,
    )


class _SigningOutbound(client.OutboundInterceptor):
    def __init__(self, next_: client.OutboundInterceptor, key: bytes) -> None:
        super().__init__(next_)
        self._key = key

    async def start_workflow_update(
        self, input: client.StartWorkflowUpdateInput
    ) -> client.WorkflowUpdateHandle[Any]:
        input.args = [
            _signed(self._key, input.id, input.update, arg)
            if isinstance(arg, DecisionRequest)
            else arg
            for arg in input.args
        ]
        return await super().start_workflow_update(input)


def _signed(key: bytes, workflow_id: str, update: str, request: DecisionRequest) -> DecisionRequest:
    unsigned = request.model_copy(update={"signature": None})
    return unsigned.model_copy(
        update={"signature": decision_signature(key, workflow_id, update, unsigned)}
    )


class DecisionSigning(client.Interceptor, Interceptor):
    """Signs decisions on the client side, refuses unsigned ones on the worker side."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _SigningOutbound(next, self._key)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        key = self._key

        class _VerifyingInbound(WorkflowInboundInterceptor):
            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                workflow_id = workflow.info().workflow_id
                for arg in input.args:
                    if isinstance(arg, DecisionRequest) and not signature_valid(
                        key, workflow_id, input.update, arg
                    ):
                        raise unsigned_refusal(arg)
                super().handle_update_validator(input)

        return _VerifyingInbound
