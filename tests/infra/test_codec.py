"""The payload codec: AES-GCM round trips, key rotation, and no PHI in Temporal's history."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import stat
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.incident import IncidentOpening, SosPress
from domain.vocabulary import Role
from infra.codec import (
    DEV_KEYRING_FILE,
    ENCODING,
    KEY_ID_METADATA,
    REFUSED_ENCODING,
    EncryptionCodec,
    Keyring,
    KeyringError,
    RefusedPayloadError,
)
from infra.temporal import data_converter_for
from tests.helpers.incidents import decide, open_incident
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import KEYRING, Stack
from workflows.incident import IncidentWorkflow


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_encode_then_decode_gives_back_the_same_payloads() -> None:
    codec = EncryptionCodec(Keyring.generate("k1"))
    originals = [_payload("Ana Ruiz, +15035550100"), _payload("second")]

    encoded = await codec.encode(originals)
    decoded = await codec.decode(encoded)

    assert decoded == originals
    for sealed in encoded:
        assert sealed.metadata["encoding"] == ENCODING
        assert sealed.metadata[KEY_ID_METADATA] == b"k1"
        assert b"Ana Ruiz" not in sealed.data
        assert b"+15035550100" not in sealed.data


async def test_the_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec(Keyring.generate("k1"))
    first, second = await codec.encode([_payload("same"), _payload("same")])
    assert first.data != second.data


async def test_a_payload_that_is_not_encrypted_is_refused_not_read() -> None:
    """Temporal is a trust boundary: plain JSON from a client without the key is never read."""
    converter = data_converter_for(Keyring.generate("k1"))
    with pytest.raises(RefusedPayloadError, match="not encrypted"):
        await converter.decode([_payload("close as supervisor")], [str])


async def test_failure_messages_and_stack_traces_are_encrypted_too() -> None:
    """An error raised in workflow or activity code may quote PHI: Temporal stores it sealed."""
    converter = data_converter_for(Keyring.generate("k1"))
    try:
        raise ApplicationError("could not text Ana Ruiz at +15035550100")
    except ApplicationError as raised:
        error = raised
    failure = Failure()
    await converter.encode_failure(error, failure)

    stored = failure.SerializeToString()
    assert b"Ana Ruiz" not in stored
    assert b"+15035550100" not in stored
    assert b"test_codec" not in stored  # the stack trace names this file
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    decoded = await converter.decode_failure(failure)
    assert str(decoded) == "could not text Ana Ruiz at +15035550100"


async def test_old_key_still_decrypts_after_rotation_and_new_key_encrypts() -> None:
    old = Keyring.generate("old")
    [sealed_with_old] = await EncryptionCodec(old).encode([_payload("before rotation")])

    new = Keyring.generate("new")
    rotated = Keyring.parse(f"{new.render()},{old.render()}")
    assert rotated.active_key_id == "new"
    codec = EncryptionCodec(rotated)

    assert await codec.decode([sealed_with_old]) == [_payload("before rotation")]
    [sealed_with_new] = await codec.encode([_payload("after rotation")])
    assert sealed_with_new.metadata[KEY_ID_METADATA] == b"new"
    # The old key alone cannot read what the rotated keyring wrote.
    with pytest.raises(RefusedPayloadError, match="unknown key 'new'"):
        await data_converter_for(old).decode([sealed_with_new], [str])


async def test_a_payload_under_an_unknown_key_id_is_refused_and_the_key_id_logged() -> None:
    """It may be a key missing from our own configuration: the operator is told which."""
    [sealed] = await EncryptionCodec(Keyring.generate("gone")).encode([_payload("x")])
    other = Keyring.generate("other")

    with structlog.testing.capture_logs() as logged:
        [refused] = await EncryptionCodec(other).decode([sealed])
        with pytest.raises(RefusedPayloadError, match="unknown key 'gone'"):
            await data_converter_for(other).decode([sealed], [str])

    assert refused.metadata["encoding"] == REFUSED_ENCODING
    assert next((e["event"], e["log_level"], e["key_id"]) for e in logged) == (
        "codec.unknown_key",
        "error",
        "gone",
    )


@pytest.mark.parametrize(
    "forged",
    [
        Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"nope"}, data=b"abc"),
        Payload(metadata={"encoding": ENCODING}, data=os.urandom(64)),
        Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, data=b""),
        Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, data=b"abc"),
        Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, data=os.urandom(27)),
        Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"\xff" * 500}, data=b"abc"),
    ],
    ids=["unknown-key", "no-key-id", "empty", "3-bytes", "shorter-than-nonce-and-tag", "junk-id"],
)
async def test_a_crafted_payload_is_refused_never_raised(forged: Payload) -> None:
    """Decoding runs before the workflow sees a signal: an exception there fails the workflow
    task on every retry, and the incident would never take another decision."""
    [refused] = await EncryptionCodec(Keyring.generate("k1")).decode([forged])

    assert refused.metadata["encoding"] == REFUSED_ENCODING
    assert len(refused.data) < 200  # an attacker's key id is quoted only in part
    with pytest.raises(RefusedPayloadError):
        await data_converter_for(Keyring.generate("k1")).decode([forged], [str])


async def test_the_shortest_real_payload_still_decodes() -> None:
    """The length check refuses only what cannot be a nonce and a tag: an empty payload sealed
    by our key is exactly that long."""
    codec = EncryptionCodec(Keyring.generate("k1"))
    [sealed] = await codec.encode([Payload()])
    assert len(sealed.data) == 12 + 16
    assert await codec.decode([sealed]) == [Payload()]


async def test_a_tampered_payload_or_a_swapped_key_id_does_not_decrypt() -> None:
    keyring = Keyring.parse(f"{Keyring.generate('a').render()},{Keyring.generate('b').render()}")
    codec = EncryptionCodec(keyring)
    [sealed] = await codec.encode([_payload("x")])

    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(flipped))
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"b"}, data=sealed.data)
    converter = data_converter_for(keyring)
    for forged in (tampered, relabelled):
        [refused] = await codec.decode([forged])
        assert refused.metadata["encoding"] == REFUSED_ENCODING
        with pytest.raises(RefusedPayloadError, match="does not authenticate"):
            await converter.decode([forged], [str])


def _b64(length: int) -> str:
    return base64.b64encode(os.urandom(length)).decode()


def test_parse_reads_several_keys_and_the_first_is_active() -> None:
    spec = f"k2:{_b64(32)}, k1:{_b64(32)}"
    keyring = Keyring.parse(spec)
    assert keyring.active_key_id == "k2"
    assert set(keyring.keys) == {"k1", "k2"}
    assert Keyring.parse(keyring.render()) == keyring


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no key given"),
        (" , ", "no key given"),
        ("k1", "key_id:base64"),
        (f":{_b64(32)}", "key_id:base64"),
        ("k1:not-base64!!", "not valid base64"),
        (f"k1:{_b64(16)}", "must be 32 bytes"),
        (f"k1:{_b64(32)},k2:{_b64(31)}", "'k2' must be 32 bytes"),
        (f"k1:{_b64(32)},k1:{_b64(32)}", "'k1' is listed twice"),
    ],
)
def test_parse_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        Keyring.parse(spec)


def test_development_keyring_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Keyring.development(data_dir)

    key_file = data_dir / DEV_KEYRING_FILE
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Keyring.development(data_dir) == first


# --- the history on the server --------------------------------------------------------


def _payloads(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload inside a protobuf message, with the field path that leads to it."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        where = f"{path}.{field.name}"
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    yield from _payloads(item, f"{where}[{key}]")
        elif isinstance(value, Message):
            yield from _payloads(value, where)
        else:
            for item in value:
                yield from _payloads(item, where)


async def test_workflow_history_on_the_server_holds_no_phi(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment
) -> None:
    summary = "Zebra-Quartz-7741 disclosed a plan at the lake house"
    note = "Okapi-Nebula-3302 called her mother"
    opened = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": "suicidal_ideation",
            "summary": summary,
            "location": {"address": "1200 SW Lakeview Terrace"},
        },
        headers=program.auth(Role.CLINICIAN),
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    noted = await stack.http.post(
        f"/v1/incidents/{incident['id']}/decisions",
        json={"kind": "note", "text": note},
        headers=program.auth(Role.CLINICIAN),
    )
    assert noted.status_code == 200, noted.text

    # A client without the codec sees what the Temporal server stores.
    raw = await ts_env.client.get_workflow_handle(incident["workflow_id"]).fetch_history()
    secrets = [
        summary.encode(),
        note.encode(),
        b"Lakeview",
        str(program.client.id).encode(),
        program.client.first_name.encode() + b'"',
        program.client.phone.encode() if program.client.phone else b"+15035550100",
    ]
    for event in raw.events:
        stored = event.SerializeToString()
        for secret in secrets:
            assert secret not in stored, (secret, event.event_type)

    payloads = [
        (where, p)
        for event in raw.events
        for where, p in _payloads(event)
        # Search attributes are indexed by the server, so they are never encrypted; a version
        # marker (workflow.patched) holds only the patch's name, written by the SDK itself.
        if "search_attributes" not in where and "patch-data" not in where
    ]
    assert len(payloads) >= 2  # at least the start input and the note update
    for where, payload in payloads:
        assert payload.metadata["encoding"] == ENCODING, where
        assert payload.metadata[KEY_ID_METADATA] == KEYRING.active_key_id.encode(), where

    started = _started_input(raw.events)
    with pytest.raises(Exception, match="encoding"):
        await ts_env.client.data_converter.decode(started, [IncidentOpening])

    # The worker's client, which holds the key, reads the same history.
    readable = await stack.client.get_workflow_handle(incident["workflow_id"]).fetch_history()
    [opening] = await stack.client.data_converter.decode(
        _started_input(readable.events), [IncidentOpening]
    )
    assert isinstance(opening, IncidentOpening)
    assert opening.summary == summary
    assert opening.client_id == program.client.id


def _started_input(events: list[HistoryEvent]) -> list[Payload]:
    first = events[0]
    assert first.HasField("workflow_execution_started_event_attributes")
    return list(first.workflow_execution_started_event_attributes.input.payloads)


# --- a crafted payload sent to a running incident ---------------------------------------------


class _Forger(PayloadCodec):
    """What a Temporal client can put on the wire: this exact payload for every argument."""

    def __init__(self, forged: Payload) -> None:
        self._forged = forged

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._forged for _ in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


@pytest.mark.parametrize(
    ("key_id", "data"),
    [(b"nope", os.urandom(64)), (KEYRING.active_key_id.encode(), b"abc")],
    ids=["unknown-key-id", "real-key-id-3-bytes"],
)
async def test_a_signal_with_a_crafted_payload_leaves_the_incident_working(
    stack: Stack, program: DemoProgram, ts_env: WorkflowEnvironment, key_id: bytes, data: bytes
) -> None:
    """The payload claims to be sealed but is not: the signal is dropped, and the incident still
    takes the API's next decision (before, every workflow task failed on it, for good)."""
    incident = await open_incident(stack, program)
    forged = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id}, data=data)
    attacker = Client(
        ts_env.client.service_client,
        namespace=ts_env.client.namespace,
        data_converter=dataclasses.replace(pydantic_data_converter, payload_codec=_Forger(forged)),
    )
    handle = attacker.get_workflow_handle_for(IncidentWorkflow.run, incident["workflow_id"])

    await handle.signal(IncidentWorkflow.sos_pressed, SosPress(at=datetime.now(UTC)))
    noted = await asyncio.wait_for(
        decide(stack, program, incident["id"], {"kind": "note", "text": "called back"}), 30
    )

    assert noted["sos_presses"] == 0
    assert [d["kind"] for d in noted["decisions"]][-1] == "note"
