"""The metrics token: production does not start without one, and a weak one is refused."""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

import pytest
from pydantic import ValidationError

from infra.codec import Keyring
from infra.settings import Settings

KEY = base64.b64encode(os.urandom(32)).decode()


def _production(**fields: Any) -> Settings:
    return Settings(
        environment="production",
        database_url="postgresql://app@db/crisisdesk",
        encryption_keys=Keyring.generate("p1").render(),
        ack_key=KEY,
        decision_key=KEY,
        audit_key=KEY,
        public_url="https://crisisdesk.example.org",
        temporal_tls_cert="/run/crisisdesk/tls/client.pem",
        temporal_tls_key="/run/crisisdesk/tls/client.key",
        **fields,
    )


def test_production_without_a_metrics_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="CRISISDESK_METRICS_TOKEN is required"):
        _production()


def test_production_with_a_metrics_token_starts() -> None:
    token = secrets.token_urlsafe(32)
    assert _production(metrics_token=token).metrics_token == token


@pytest.mark.parametrize("weak", ["changeme", "short-token", " " * 40, "a token with spaces " * 3])
def test_a_weak_metrics_token_is_refused(weak: str) -> None:
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings(metrics_token=weak)
