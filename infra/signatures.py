"""HMAC-SHA256 signatures of webhook bodies, both ways: what CrisisDesk sends to partners and
what partners send back. Header: `t=<unix seconds>,v1=<hex HMAC of "t." + body>`."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-CrisisDesk-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """Refused: the reason is safe to answer."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """Raise unless `header` signs `body` with `secret` within `tolerance` seconds of `now`
    (an old signature is refused, so a captured request cannot be replayed later)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, given = parts.get("t", "").strip(), parts.get("v1", "").strip()
    # ASCII digits only: `str.isdigit` accepts "²", which `int` then refuses.
    if not (timestamp.isascii() and timestamp.isdigit()) or not given:
        raise SignatureError("missing or malformed signature")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError("the signature is too old or from the future")
    expected = sign(secret, int(timestamp), body).encode()
    if not hmac.compare_digest(expected, f"t={timestamp},v1={given}".encode()):
        raise SignatureError("the signature does not match")
