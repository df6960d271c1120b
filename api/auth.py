"""Bearer tokens: generated once, stored only as a SHA-256 hash, looked up by that hash; each
ends after its lifetime, and its last use is written down at most once a minute."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

TOKEN_PREFIX = "cdk_"  # noqa: S105 (a prefix that makes leaked tokens searchable)
TOKEN_LIFETIME = timedelta(days=90)
# A request reads the staff row anyway; writing its last use once a minute, not on every
# request, keeps a burst of reads from becoming a burst of writes.
LAST_USE_GRANULARITY = timedelta(minutes=1)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(token.encode()).hexdigest()


def token_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at


def last_use_is_stale(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether this use must be written: never written, or written a minute ago or more."""
    return last_used_at is None or now - last_used_at >= LAST_USE_GRANULARITY
