"""Bearer tokens: generated once, stored only as a SHA-256 hash, looked up by that hash."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "cdk_"  # noqa: S105 (a prefix that makes leaked tokens searchable)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(token.encode()).hexdigest()
