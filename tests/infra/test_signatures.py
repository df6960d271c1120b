"""Signed tokens and webhook signatures refuse anything forged, whatever characters it holds."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from infra.ack_tokens import AckClaim, AckTokenError, issue_ack_token, read_ack_token
from infra.signatures import SignatureError, sign, verify

SECRET = b"s" * 32


def test_an_ack_token_with_non_ascii_characters_is_refused_not_an_error() -> None:
    token = issue_ack_token(
        SECRET,
        AckClaim(
            incident_id=uuid4(),
            ladder_id=uuid4(),
            recipient_id=uuid4(),
            channel="sms",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        ),
    )
    body = token.split(".")[0]
    for forged in (f"{body}.é", f"{body}.\u0000", "é.é", "0"):
        with pytest.raises(AckTokenError):
            read_ack_token(SECRET, forged)
    assert read_ack_token(SECRET, token).channel == "sms"


def test_a_webhook_signature_with_non_ascii_characters_is_refused() -> None:
    now = int(time.time())
    body = b'{"event_id": "evt-12345678"}'
    verify("secret", sign("secret", now, body), body, now)
    for header in (f"t={now},v1=é", f"t={now},v1=\u00ff" * 3, "t=é,v1=00"):
        with pytest.raises(SignatureError):
            verify("secret", header, body, now)
