"""Signed, expiring acknowledgement tokens: what a contact's link carries back to CrisisDesk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, ValidationError


class AckTokenError(ValueError):
    """The token is forged, malformed or expired; the reason is safe to show."""


class AckClaim(BaseModel):
    incident_id: UUID
    ladder_id: UUID
    recipient_id: UUID
    channel: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_ack_token(secret: bytes, claim: AckClaim) -> str:
    body = _b64(claim.model_dump_json().encode())
    signature = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def read_ack_token(secret: bytes, token: str, now: datetime | None = None) -> AckClaim:
    body, _, signature = token.partition(".")
    if not body or not signature:
        raise AckTokenError("malformed acknowledgement link")
    expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    # Bytes, so a forged token with any characters is refused, not an error.
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise AckTokenError("this acknowledgement link is not valid")
    try:
        claim = AckClaim.model_validate(json.loads(_unb64(body)))
    except (ValueError, ValidationError) as error:
        raise AckTokenError("malformed acknowledgement link") from error
    if claim.expires_at <= (now or datetime.now(UTC)):
        raise AckTokenError("this acknowledgement link has expired")
    return claim


def ack_secret(webhook_secret: str | None, encryption_key: bytes) -> bytes:
    """The signing key: the webhook secret when set, else one derived from the active data key."""
    seed = webhook_secret.encode() if webhook_secret else encryption_key
    return hashlib.sha256(b"crisisdesk-ack-v1:" + seed).digest()
