"""The acknowledgement link's page: what a person (or a mail scanner) sees when the link opens.

That opening it acknowledges nothing, and that its button does, is shown on a running contact
ladder in tests/workflows/test_contact_ladder.py; here, the page itself and the refusals.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from api.runtime import Runtime
from infra.ack_tokens import AckClaim, issue_ack_token
from tests.helpers.stack import Stack, running_stack

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def ack_path(stack: Stack, expires_in: timedelta = timedelta(hours=1)) -> str:
    transport: Any = stack.http._transport  # the ASGI transport holds the app
    runtime: Runtime = transport.app.state.runtime
    claim = AckClaim(
        incident_id=uuid4(),
        ladder_id=uuid4(),
        recipient_id=uuid4(),
        channel="sms",
        expires_at=datetime.now(UTC) + expires_in,
    )
    return f"/v1/acks/{issue_ack_token(runtime.ack_secret, claim)}"


async def test_the_link_opens_a_page_whose_button_posts_back(stack: Stack) -> None:
    path = ack_path(stack)
    page = await stack.http.get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in page.text
    assert "action=" not in page.text  # the form posts to the link itself
    assert '<button type="submit">I got the message</button>' in page.text
    assert "Confirm you received the CrisisDesk message" in page.text
    assert "<script" not in page.text.lower()


async def test_the_page_is_never_cached_never_referred_and_runs_no_script(stack: Stack) -> None:
    page = await stack.http.get(ack_path(stack))
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "form-action 'self'" in policy
    assert "script-src" not in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize(
    "token",
    ["e30.", "no-dot", "e30.c2lnbmF0dXJl", "ab.cd\N{SNOWMAN}"],
    ids=["empty-signature", "malformed", "forged", "non-ascii"],
)
async def test_a_forged_link_is_refused_to_the_page_and_to_the_button(
    stack: Stack, token: str
) -> None:
    path = f"/v1/acks/{token}"
    for refused in (
        await stack.http.get(path),
        await stack.http.post(path, content=b"", headers=FORM),
        await stack.http.post(path, json={}),
    ):
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "I got the message" not in refused.text


async def test_an_expired_link_is_refused_to_the_page_and_to_the_button(stack: Stack) -> None:
    path = ack_path(stack, expires_in=-timedelta(minutes=1))
    for refused in (
        await stack.http.get(path),
        await stack.http.post(path, content=b"", headers=FORM),
        await stack.http.post(path),
    ):
        assert refused.status_code == 403, refused.text
        assert "expired" in refused.json()["detail"]


async def test_the_openapi_document_says_the_page_is_html_and_the_button_answers_both(
    stack: Stack,
) -> None:
    operations = (await stack.http.get("/openapi.json")).json()["paths"]["/v1/acks/{token}"]
    page, button = operations["get"]["responses"], operations["post"]["responses"]
    assert list(page["200"]["content"]) == ["text/html"]
    assert "Cache-Control" in page["200"]["headers"]
    assert sorted(button["200"]["content"]) == ["application/json", "text/html"]
    for refused in (page["403"], button["403"]):
        assert list(refused["content"]) == ["application/problem+json"]


WEBHOOK_SECRET = "the-dispatch-providers-secret"
ACK_KEY = base64.b64encode(b"k" * 32).decode()


def _claim() -> AckClaim:
    return AckClaim(
        incident_id=uuid4(),
        ladder_id=uuid4(),
        recipient_id=uuid4(),
        channel="sms",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def keyed_stack(
    ts_env: WorkflowEnvironment,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    async with running_stack(
        ts_env, database_url, sessions, tmp_path, webhook_secret=WEBHOOK_SECRET, ack_key=ACK_KEY
    ) as stack:
        yield stack


async def test_the_dispatch_providers_secret_cannot_sign_an_ack_link(keyed_stack: Stack) -> None:
    # What a holder of the webhook secret could sign before the ack key was separate.
    derived = hashlib.sha256(b"crisisdesk-ack-v1:" + WEBHOOK_SECRET.encode()).digest()
    forged = await keyed_stack.http.get(f"/v1/acks/{issue_ack_token(derived, _claim())}")
    assert forged.status_code == 403, forged.text
    signed = await keyed_stack.http.get(
        f"/v1/acks/{issue_ack_token(base64.b64decode(ACK_KEY), _claim())}"
    )
    assert signed.status_code == 200, signed.text
