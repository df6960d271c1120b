"""The audit chain's rules: what an entry holds, how each is hashed with its predecessor, and
the anchors an operator keeps outside the database.

Each event is hashed with its predecessor under a key that is not in the database (HMAC-SHA256),
so someone who can write the database cannot recompute a chain after changing it. `chain_hash`
is the unkeyed SHA-256 of the first chains: migration 0008 checks old events with it once, then
re-keys them; nothing verifies or appends with it after that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

GENESIS_HASH = "0" * 64
MIN_KEY_BYTES = 32


class AuditEntry(BaseModel):
    """An event to append: `event_key` makes the append idempotent under retries."""

    event_key: str
    program_id: UUID
    action: str
    actor_id: str
    actor_role: str
    at: datetime
    incident_id: UUID | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


def stored_form(
    *,
    seq: int,
    event_key: str,
    at: datetime,
    action: str,
    actor_id: str,
    actor_role: str,
    incident_id: UUID | None,
    detail: dict[str, Any],
) -> str:
    """The canonical text of an event that its hash covers (byte for byte stable)."""
    return json.dumps(
        {
            "seq": seq,
            "event_key": event_key,
            "at": at.isoformat(),
            "action": action,
            "actor_id": actor_id,
            "actor_role": actor_role,
            "incident_id": str(incident_id) if incident_id else None,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )


def chain_hash(
    prev_hash: str,
    *,
    seq: int,
    event_key: str,
    at: datetime,
    action: str,
    actor_id: str,
    actor_role: str,
    incident_id: UUID | None,
    detail: dict[str, Any],
) -> str:
    """The unkeyed SHA-256 of chains written before migration 0008 (anyone can recompute it)."""
    body = stored_form(
        seq=seq,
        event_key=event_key,
        at=at,
        action=action,
        actor_id=actor_id,
        actor_role=actor_role,
        incident_id=incident_id,
        detail=detail,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def keyed_chain_hash(
    key: bytes,
    prev_hash: str,
    *,
    seq: int,
    event_key: str,
    at: datetime,
    action: str,
    actor_id: str,
    actor_role: str,
    incident_id: UUID | None,
    detail: dict[str, Any],
) -> str:
    """HMAC-SHA256 under the audit key of the predecessor's hash then the event's stored form."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the audit key must be at least {MIN_KEY_BYTES} bytes")
    body = stored_form(
        seq=seq,
        event_key=event_key,
        at=at,
        action=action,
        actor_id=actor_id,
        actor_role=actor_role,
        incident_id=incident_id,
        detail=detail,
    )
    return hmac.new(key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


class ChainHead(BaseModel):
    """The newest event of one program's chain, as an anchor keeps it."""

    program_id: UUID
    seq: int
    hash: str


class Anchor(BaseModel):
    """The chains' heads at one moment: one line of an anchor file an operator keeps elsewhere."""

    at: datetime
    heads: list[ChainHead]

    def line(self) -> str:
        return self.model_dump_json() + "\n"


def read_anchors(text: str) -> list[Anchor]:
    """Every anchor of an anchor file, oldest first; a line that is not an anchor is an error."""
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(Anchor.model_validate_json(line))
        except ValueError as error:
            raise ValueError(f"line {number} is not an audit anchor") from error
    return anchors


def missing_since(
    anchors: list[Anchor], found: dict[tuple[UUID, int], str]
) -> list[tuple[ChainHead, str]]:
    """Anchored heads the chains no longer hold as anchored: (head, what is wrong with it).

    `found` maps (program, seq) to the hash of every event the chains hold now."""
    problems: list[tuple[ChainHead, str]] = []
    for anchor in anchors:
        for head in anchor.heads:
            now = found.get((head.program_id, head.seq))
            if now is None:
                problems.append((head, f"anchored at {anchor.at.isoformat()}, now missing"))
            elif now != head.hash:
                problems.append((head, f"anchored at {anchor.at.isoformat()}, hash differs"))
    return problems
