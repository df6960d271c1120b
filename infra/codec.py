"""AES-256-GCM payload codec: every workflow payload is encrypted before it leaves the process.

The key id travels in the payload metadata, so several keys can decrypt while only the first
encrypts: rotate by putting a new key first and keeping the old ones until histories expire.

Temporal is a trust boundary (SPEC 10.2): a payload that is not sealed by one of our keys (plain
JSON from a client without the key, or a forged or altered ciphertext) is refused, never passed
through. Decoding it yields a `binary/refused` payload that no converter reads, so converting it
raises `RefusedPayloadError` naming why: a forged Update is rejected, a forged signal dropped
(logged by the SDK), and neither fails the workflow task, which would stall the incident.
Decoding never raises: a crafted payload (a key id we do not hold, data too short to be a nonce
and a tag) would otherwise fail every retry of the workflow task it arrived in, freezing the
incident for good. A key id we do not hold is also logged as an error naming it, because it may
be our own missing key: the workflow input or an activity result under it is refused too, and
its conversion fails the workflow task with that key id until the operator restores the key.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
REFUSED_ENCODING = b"binary/refused"
_NONCE_BYTES = 12
_TAG_BYTES = 16
# An attacker chooses the key id: a log line or a refusal quotes its first bytes, escaped.
_KEY_ID_SHOWN = 32
DEV_KEYRING_FILE = "encryption-keys.json"

log = structlog.get_logger("crisisdesk.codec")


class KeyringError(ValueError):
    """The configured keys cannot be used."""


class RefusedPayloadError(ValueError):
    """A payload that our keys did not seal reached a converter: it is never read."""


def _refused(why: str) -> Payload:
    return Payload(metadata={"encoding": REFUSED_ENCODING}, data=why.encode())


@dataclass(frozen=True)
class Keyring:
    """Named 256-bit keys; `active_key_id` encrypts, every key decrypts."""

    keys: Mapping[str, bytes]
    active_key_id: str

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise KeyringError(f"active key {self.active_key_id!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise KeyringError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse `key_id:base64,key_id:base64`; the first entry is the active key."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for entry in (part.strip() for part in spec.split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep or not key_id:
                raise KeyringError("each key must be written key_id:base64")
            if key_id in keys:
                raise KeyringError(f"key id {key_id!r} is listed twice")
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except ValueError as error:
                raise KeyringError(f"key {key_id!r} is not valid base64") from error
            order.append(key_id)
        if not order:
            raise KeyringError("no key given")
        return cls(keys=keys, active_key_id=order[0])

    def render(self) -> str:
        ordered: Sequence[str] = [self.active_key_id] + [
            k for k in self.keys if k != self.active_key_id
        ]
        return ",".join(f"{k}:{base64.b64encode(self.keys[k]).decode()}" for k in ordered)

    @classmethod
    def generate(cls, key_id: str | None = None) -> Keyring:
        key_id = key_id or f"k{secrets.token_hex(4)}"
        return cls(keys={key_id: AESGCM.generate_key(bit_length=256)}, active_key_id=key_id)

    @classmethod
    def development(cls, data_dir: Path) -> Keyring:
        """A keyring kept under the data directory, created on first use (development only)."""
        path = data_dir / DEV_KEYRING_FILE
        if path.exists():
            return cls.parse(json.loads(path.read_text())["keys"])
        keyring = cls.generate("dev1")
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked: a process starting at the same
        # moment either wins or reads the complete file of the one that did.
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"keys": keyring.render()}, handle)
        try:
            os.link(staging, path)
        except FileExistsError:
            return cls.parse(json.loads(path.read_text())["keys"])
        finally:
            staging.unlink()
        return keyring


class EncryptionCodec(PayloadCodec):
    """Encrypts each serialized payload with AES-256-GCM under the active key."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id = self._keyring.active_key_id
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._opened(payload) for payload in payloads]

    def _opened(self, payload: Payload) -> Payload:
        """The payload our key sealed, or a refused one saying why: never an exception."""
        if payload.metadata.get("encoding") != ENCODING:
            return _refused("the payload is not encrypted")
        raw_key_id = payload.metadata.get(KEY_ID_METADATA, b"")
        key_id = raw_key_id.decode(errors="replace")
        shown = raw_key_id[:_KEY_ID_SHOWN].decode("ascii", errors="backslashreplace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            log.error("codec.unknown_key", key_id=shown, known=sorted(self._ciphers))
            return _refused(f"payload encrypted with unknown key {shown!r}")
        if len(payload.data) < _NONCE_BYTES + _TAG_BYTES:
            return _refused(f"the payload is too short to be sealed under key {shown!r}")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))
        except (InvalidTag, ValueError):
            # ValueError: AES-GCM's own limits on what it is given, like InvalidTag a forgery.
            return _refused(f"the payload does not authenticate under key {shown!r}")


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads `binary/refused` payloads by raising why they were refused; writes nothing."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: object) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> object:
        raise RefusedPayloadError(f"refused: {payload.data.decode(errors='replace')}")


class SealedPayloadConverter(PydanticPayloadConverter):
    """The pydantic converter, plus the one that refuses what the codec refused."""

    def __init__(self) -> None:
        super().__init__()
        self._set_converters(*self.converters.values(), RefusedPayloadConverter())


def sealed_data_converter(keyring: Keyring) -> DataConverter:
    """Payloads and failure messages and stack traces, all encrypted under `keyring`."""
    return DataConverter(
        payload_converter_class=SealedPayloadConverter,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        payload_codec=EncryptionCodec(keyring),
    )
