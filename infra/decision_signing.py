"""Signed messages (SPEC 10.2): Temporal is a trust boundary, so a message that changes an
incident counts only when it carries a signature made with a key Temporal never sees.

Every workflow input and every signal and Update argument that changes state is a
`SignedMessage` (domain/signed.py): openings and plans, decisions, follow-up task claims and
completions, acknowledgements, SOS presses, and the messages the workflows send one another (a
ladder's or the follow-up's report, stop and cancel requests). `DecisionSigning` is one
interceptor for every side of the boundary (`infra/signing_interceptors.py`; the signing
itself is here):

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
from typing import Any

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
