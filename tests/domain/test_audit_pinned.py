"""The audit chain's hash (SPEC section 6: each event hashed with its predecessor).

The expected digests are computed here from the stored form typed out by hand: chains already in
databases verify only while that form stays byte-for-byte the same.
"""

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from domain.audit import GENESIS_HASH, chain_hash, keyed_chain_hash

AT = datetime(2026, 11, 14, 3, 27, 5, tzinfo=UTC)
INCIDENT = UUID("6f1c2a8e-0000-4000-8000-0000000000aa")
EVENT: dict[str, Any] = {
    "seq": 7,
    "event_key": "decision:42",
    "at": AT,
    "action": "decision.assessment",
    "actor_id": "staff:3b0c9d3e",
    "actor_role": "clinician",
    "incident_id": INCIDENT,
    "detail": {"risk_level": "high", "when": AT},
}
STORED_FORM = (
    '{"action":"decision.assessment","actor_id":"staff:3b0c9d3e","actor_role":"clinician",'
    '"at":"2026-11-14T03:27:05+00:00","detail":{"risk_level":"high",'
    '"when":"2026-11-14 03:27:05+00:00"},"event_key":"decision:42",'
    '"incident_id":"6f1c2a8e-0000-4000-8000-0000000000aa","seq":7}'
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_genesis_is_sixty_four_zeros() -> None:
    assert GENESIS_HASH == "0" * 64


def test_the_hash_is_of_the_predecessor_then_the_stored_form() -> None:
    prev = sha256("previous event")
    assert chain_hash(prev, **EVENT) == sha256(prev + STORED_FORM)


def test_an_event_without_an_incident_stores_null() -> None:
    event = EVENT | {"incident_id": None, "detail": {}}
    stored = (
        '{"action":"decision.assessment","actor_id":"staff:3b0c9d3e","actor_role":"clinician",'
        '"at":"2026-11-14T03:27:05+00:00","detail":{},"event_key":"decision:42",'
        '"incident_id":null,"seq":7}'
    )
    assert chain_hash(GENESIS_HASH, **event) == sha256(GENESIS_HASH + stored)


@pytest.mark.parametrize(
    ("field", "tampered"),
    [
        ("seq", 8),
        ("event_key", "decision:43"),
        ("at", datetime(2026, 11, 14, 3, 27, 6, tzinfo=UTC)),
        ("action", "decision.note"),
        ("actor_id", "staff:00000000"),
        ("actor_role", "supervisor"),
        ("incident_id", UUID("6f1c2a8e-0000-4000-8000-0000000000bb")),
        ("detail", {"risk_level": "low", "when": AT}),
    ],
)
def test_tampering_with_any_field_changes_the_hash(field: str, tampered: object) -> None:
    assert chain_hash(GENESIS_HASH, **EVENT) != chain_hash(
        GENESIS_HASH, **EVENT | {field: tampered}
    )


def test_tampering_with_the_predecessor_changes_the_hash() -> None:
    assert chain_hash(GENESIS_HASH, **EVENT) != chain_hash(sha256("forged"), **EVENT)


AUDIT_KEY = bytes(range(32))


def test_the_keyed_hash_is_an_hmac_of_the_predecessor_then_every_stored_field() -> None:
    """SPEC 10.2: the chain is keyed (HMAC with a key outside the database); every field of the
    stored form, the incident included, is under the key."""
    prev = sha256("previous event")
    expected = hmac.new(AUDIT_KEY, (prev + STORED_FORM).encode(), hashlib.sha256).hexdigest()
    assert keyed_chain_hash(AUDIT_KEY, prev, **EVENT) == expected
    assert keyed_chain_hash(AUDIT_KEY, prev, **EVENT) != chain_hash(prev, **EVENT)
