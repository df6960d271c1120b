"""Signed tokens and webhook signatures refuse anything forged, whatever characters it holds."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from infra.ack_tokens import (
    DEV_ACK_KEY_FILE,
    AckClaim,
    AckTokenError,
    ack_key,
    issue_ack_token,
    read_ack_token,
)
from infra.settings import Settings
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


@pytest.mark.parametrize(
    "header",
    ["t=²,v1=00", "t=١٢٣,v1=00", "t=,v1=00", "t=12,v1=", "garbage", "", "t=1=2,v1=00"],
    ids=["superscript", "arabic-indic", "empty-t", "empty-v1", "garbage", "empty", "double-eq"],
)
def test_a_malformed_signature_header_is_refused_not_an_error(header: str) -> None:
    with pytest.raises(SignatureError):
        verify("secret", header, b"{}", time.time())


def test_the_development_ack_key_is_made_once_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "one")
    key = ack_key(settings)
    assert len(key) == 32
    assert ack_key(settings) == key  # every process of the deployment reads the same key
    assert (tmp_path / "one" / DEV_ACK_KEY_FILE).stat().st_mode & 0o077 == 0
    assert ack_key(Settings(data_dir=tmp_path / "two")) != key


def test_the_configured_ack_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    configured = base64.b64encode(b"a" * 32).decode()
    settings = Settings(data_dir=tmp_path, ack_key=configured, webhook_secret="provider")
    assert ack_key(settings) == b"a" * 32
    assert not (tmp_path / DEV_ACK_KEY_FILE).exists()
