"""Inbound webhooks refuse what is malformed with a 4xx, and accept what their sender really
signs: Twilio signs every parameter it posts, blank ones too (SPEC 10.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment
from twilio.request_validator import RequestValidator

from tests.helpers.stack import Stack, running_stack

AUTH_TOKEN = "twilio-auth-token-of-the-test"
PUBLIC_URL = "https://crisisdesk.test"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# A real inbound SMS carries blank parameters (no media, no city known for the number).
INBOUND_SMS = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "From": "+15035550177",
    "To": "+15035550000",
    "Body": "YES",
    "NumMedia": "0",
    "FromCity": "",
    "FromZip": "",
    "ToCity": "",
}


@pytest_asyncio.fixture(loop_scope="session")
async def webhook_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    async with running_stack(
        ts_env,
        database_url,
        sessions,
        tmp_path,
        twilio_auth_token=AUTH_TOKEN,
        webhook_secret="dispatch-provider-secret",
        public_url=PUBLIC_URL,
    ) as stack:
        yield stack


def _signed(path: str, form: dict[str, str]) -> dict[str, str]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC_URL}{path}", form)
    return {**FORM, "X-Twilio-Signature": signature}


@pytest.mark.parametrize("path", ["/v1/callbacks/twilio/sms", "/v1/callbacks/twilio/status"])
async def test_a_correctly_signed_callback_with_blank_parameters_is_accepted(
    webhook_stack: Stack, path: str
) -> None:
    body = urlencode(INBOUND_SMS)
    accepted = await webhook_stack.http.post(path, content=body, headers=_signed(path, INBOUND_SMS))
    assert accepted.status_code in (200, 204), accepted.text
    # The same body signed without its blank parameters is not what Twilio signed.
    filled = {k: v for k, v in INBOUND_SMS.items() if v}
    refused = await webhook_stack.http.post(path, content=body, headers=_signed(path, filled))
    assert refused.status_code == 403, refused.text


async def test_a_twilio_body_that_is_not_utf8_is_400(webhook_stack: Stack) -> None:
    path = "/v1/callbacks/twilio/sms"
    answer = await webhook_stack.http.post(
        path, content=b"Body=\xff\xfe&From=%2B15035550177", headers=_signed(path, {})
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"] == "the body is not UTF-8"


@pytest.mark.parametrize("header", ["t=²,v1=00", "t=¹²³,v1=00", "t=1e3,v1=00", "v1=00"])
async def test_a_malformed_dispatch_signature_header_is_401(
    webhook_stack: Stack, header: str
) -> None:
    answer = await webhook_stack.http.post(
        "/v1/callbacks/dispatch",
        content=b'{"event_id": "evt-12345678"}',
        # As Starlette reads a header: each byte one character (latin-1), so "²" arrives as is.
        headers={
            b"Content-Type": b"application/json",
            b"X-CrisisDesk-Signature": header.encode("latin-1"),
        },
    )
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
