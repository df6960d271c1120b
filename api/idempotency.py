"""Idempotency-Key binding (SPEC 7, 10.1): which incident or decision a key names, and when a
repeated request is a replay of the first.

A key is scoped to the program (an opening) or to the incident and staff member (a decision), and
bound to the digest of the body it was first sent with: the same key with another body, or for
another client, is refused with a 422 naming the header, never answered with the earlier result.
"""

from __future__ import annotations

import uuid

from api.problems import Problem

# Fixed: a retry across a deploy must derive the same ids as the try before it.
NAMESPACE = uuid.UUID("6f1c2a4e-9d1b-4c55-8a57-2f1f3c7d9e10")
UPDATE_ID_DIGEST_CHARS = 16


def incident_id_for(program_id: uuid.UUID, key: str | None) -> uuid.UUID:
    """The incident an opening names: one per key in a program, a fresh one without a key."""
    return uuid.uuid5(NAMESPACE, f"{program_id}:{key}") if key else uuid.uuid4()


def decision_id_for(incident_id: uuid.UUID, staff_id: uuid.UUID, key: str | None) -> uuid.UUID:
    """The decision a request names: one per key, incident and staff member; fresh without one."""
    if not key:
        return uuid.uuid4()
    return uuid.uuid5(NAMESPACE, f"decision:{incident_id}:{staff_id}:{key}")


def decision_update_id(decision_id: uuid.UUID, digest: str) -> str:
    """The workflow update's id, bound to the body: Temporal answers a repeated update id with
    its first result whatever the arguments, so another body must make another id (which the
    workflow then refuses as a reused key)."""
    return f"{decision_id}:{digest[:UPDATE_ID_DIGEST_CHARS]}"


def is_replay(
    *,
    first_digest: str | None,
    first_client_id: uuid.UUID,
    digest: str,
    client_id: uuid.UUID,
) -> bool:
    """Whether an opening whose key already names an incident is that incident's replay: the same
    body, and always the same client (an incident opened before digests were kept has none)."""
    return first_digest in (None, digest) and first_client_id == client_id


def key_reused(what: str) -> Problem:
    message = f"this Idempotency-Key was already used for a different {what}"
    return Problem(
        422,
        "Unprocessable content",
        message,
        errors=[{"field": "Idempotency-Key", "message": message}],
    )
