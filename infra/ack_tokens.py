"""Signed, expiring acknowledgement tokens: what a contact's link carries back to CrisisDesk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, ValidationError

from infra.settings import Settings


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


DEV_ACK_KEY_FILE = "ack.key"


def ack_key(settings: Settings) -> bytes:
    """The key of ack links: `CRISISDESK_ACK_KEY`, CrisisDesk's own and shared with no provider
    (the webhook secret is the dispatch provider's too, so it must not sign a contact's link).
    In development, a key kept under the data directory, created on first use."""
    if settings.ack_key:
        return base64.b64decode(settings.ack_key.strip())
    path = settings.data_dir / DEV_ACK_KEY_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked: a process starting at the same
        # moment either wins or reads the complete file of the one that did.
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode())
        try:
            os.link(staging, path)
        except FileExistsError:
            pass
        finally:
            staging.unlink()
    return base64.b64decode(path.read_text().strip())
