"""The audit chain's rules: what an entry holds and how each is hashed with its predecessor."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

GENESIS_HASH = "0" * 64


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
    body = json.dumps(
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
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()
