"""Sending one ladder message: to one recipient, on one channel, at most once.

The attempt is recorded (`queued`) before the provider is called and updated after, under an
idempotency key of (purpose, incident, ladder, recipient, channel). A retry after a definite
failure sends again; a retry that finds an attempt of unknown outcome (a crash between the two
writes) does not, and fails the step so the ladder moves on: a family member is never texted
twice, and a notification that may not have gone out is never counted as sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import (
    DeliveryChannel,
    OutboundMessage,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from domain.audit import AuditEntry
from domain.disclosure import ConsentFacts, still_consented
from domain.messages import ladder_message
from domain.models import Client, Consent, EmergencyContact, Notification, Program
from domain.notification import (
    CONSENT_REVOKED,
    AttemptOutcome,
    RecipientType,
    SendRequest,
    SendResult,
)
from domain.vocabulary import Channel, DeliveryStatus
from infra.ack_tokens import AckClaim, issue_ack_token
from infra.audit_log import append_in
from infra.db import transaction
from infra.records import notification_by_key

log = structlog.get_logger("crisisdesk.notify")
T = TypeVar("T")
RECORD_WITHIN = 20.0  # seconds; the send's start-to-close timeout is 30
_PERMANENT = "permanent: "
HEARTBEAT_EVERY = 1.0  # seconds
_DONE = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.ACKNOWLEDGED}
_PROGRESS = {
    DeliveryStatus.FAILED: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.ACKNOWLEDGED: 4,
}


class NotifyActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: dict[Channel, DeliveryChannel],
        *,
        public_url: str,
        ack_secret: bytes,
    ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._public_url = public_url.rstrip("/")
        self._ack_secret = ack_secret

    @activity.defn(name="send_message")
    async def send_message(self, request: SendRequest) -> SendResult:
        # Heartbeats from the first instruction: a slow database read on a busy worker must not
        # look like a dead worker (the heartbeat timeout would cancel the attempt).
        return await _heartbeating(self._send_once(request))

    async def _send_once(self, request: SendRequest) -> SendResult:
        key = request.idempotency_key
        bound = log.bind(incident_id=str(request.incident_id), idempotency_key=key)
        previous = await self._attempt(key)
        if previous is not None:
            if previous.status in _DONE:
                return SendResult(outcome=AttemptOutcome.SENT, notification_id=previous.id)
            if previous.status == DeliveryStatus.QUEUED:
                await self._finish(key, DeliveryStatus.FAILED, error="outcome unknown: not resent")
                raise ApplicationError(
                    "a previous try may have sent this message; not sending it again",
                    type="UnknownDeliveryOutcome",
                    non_retryable=True,
                )
            if (previous.error or "").startswith(_PERMANENT):
                raise PermanentDeliveryError(previous.error or "permanent failure")
        if request.consent_ids and not await self._still_consented(request):
            # Revoked or expired since the decision: nothing more goes to this recipient.
            await self._begin(request, DeliveryStatus.STOPPED, error=CONSENT_REVOKED)
            bound.info("notification.stopped", channel=str(request.channel), why=CONSENT_REVOKED)
            return SendResult(outcome=AttemptOutcome.STOPPED, reason=CONSENT_REVOKED)
        channel = self._channels.get(request.channel)
        address, text = await self._compose(request)
        if channel is None or address is None:
            reason = (
                f"the {request.channel} channel is not configured"
                if channel is None
                else f"no {request.channel} address on file"
            )
            await self._begin(request, DeliveryStatus.FAILED, error=reason)
            bound.warning("notification.skipped", channel=str(request.channel), why=reason)
            return SendResult(outcome=AttemptOutcome.SKIPPED, reason=reason)
        notification_id = await self._begin(request, DeliveryStatus.QUEUED)
        try:
            receipt = await channel.send(
                OutboundMessage(
                    idempotency_key=key,
                    incident_id=str(request.incident_id),
                    recipient_id=str(request.recipient_id),
                    address=address,
                    subject=text[0],
                    body=text[1],
                    ack_url=text[2],
                )
            )
        except TemporaryDeliveryError as error:
            await self._finish(key, DeliveryStatus.FAILED, error=f"temporary: {error}")
            raise
        except PermanentDeliveryError as error:
            await self._finish(key, DeliveryStatus.FAILED, error=f"{_PERMANENT}{error}")
            raise
        # The provider has the message: a database blip now must not turn a sent message into
        # one of unknown outcome (the retry would not resend it, and the ladder would move on).
        await _until_written(
            lambda: self._finish(
                key, receipt.status, provider_ref=receipt.provider_ref, audit=request
            )
        )
        bound.info("notification.sent", channel=str(request.channel))
        return SendResult(outcome=AttemptOutcome.SENT, notification_id=notification_id)

    async def _still_consented(self, request: SendRequest) -> bool:
        """Re-read the consents the disclosure rests on: one must still be current."""
        async with self._sessions() as session:
            rows = (
                await session.exec(select(Consent).where(col(Consent.id).in_(request.consent_ids)))
            ).all()
        facts = [
            ConsentFacts(
                contact_id=row.contact_id,
                kind=row.kind,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
                consent_id=row.id,
            )
            for row in rows
        ]
        return still_consented(facts, request.recipient_id, datetime.now(UTC))

    async def _attempt(self, key: str) -> Notification | None:
        async with self._sessions() as session:
            return await notification_by_key(session, key=key)

    async def _compose(self, request: SendRequest) -> tuple[str | None, tuple[str, str, str]]:
        async with self._sessions() as session:
            program = await session.get(Program, request.program_id)
            address: str | None
            if request.recipient_type is RecipientType.CLIENT:
                client = await session.get(Client, request.recipient_id)
                assert client is not None and program is not None
                address = client.email if request.channel is Channel.EMAIL else client.phone
            else:
                contact = await session.get(EmergencyContact, request.recipient_id)
                assert contact is not None and program is not None
                client = await session.get(Client, contact.client_id)
                assert client is not None
                address = contact.email if request.channel is Channel.EMAIL else contact.phone
        token = issue_ack_token(
            self._ack_secret,
            AckClaim(
                incident_id=request.incident_id,
                ladder_id=request.ladder_id,
                recipient_id=request.recipient_id,
                channel=request.channel,
                expires_at=request.ack_expires_at,
            ),
        )
        text = ladder_message(
            request.purpose,
            client_first_name=client.first_name,
            program_name=program.name,
            callback_number=program.crisis_line_phone,
        )
        return address, (text.subject, text.body, f"{self._public_url}/v1/acks/{token}")

    async def _begin(
        self, request: SendRequest, status: DeliveryStatus, error: str | None = None
    ) -> UUID:
        now = datetime.now(UTC)
        async with transaction(self._sessions) as session:
            row = await notification_by_key(session, key=request.idempotency_key)
            if row is None:
                row = Notification(
                    incident_id=request.incident_id,
                    program_id=request.program_id,
                    purpose=request.purpose,
                    recipient_type=request.recipient_type,
                    recipient_id=str(request.recipient_id),
                    channel=request.channel,
                    status=status,
                    idempotency_key=request.idempotency_key,
                    error=error,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
            else:
                row.status, row.error, row.updated_at = status, error, now
                row.attempt += 1
            await session.flush()
            return row.id

    async def _finish(
        self,
        key: str,
        status: DeliveryStatus,
        *,
        error: str | None = None,
        provider_ref: str | None = None,
        audit: SendRequest | None = None,
    ) -> None:
        now = datetime.now(UTC)
        async with transaction(self._sessions) as session:
            row = await notification_by_key(session, key=key)
            assert row is not None  # written by _begin
            # The provider's status callback can arrive before we record its answer: a later
            # state (delivered, acknowledged) is never set back to queued or sent.
            current = _PROGRESS.get(DeliveryStatus(row.status), 0)
            if status is DeliveryStatus.FAILED or current <= _PROGRESS[status]:
                row.status = status
            row.error, row.updated_at = error, now
            row.provider_ref = provider_ref or row.provider_ref
            if audit is not None:
                await append_in(
                    session,
                    AuditEntry(
                        event_key=f"sent:{key}",
                        program_id=audit.program_id,
                        action="notification.sent",
                        actor_id="system",
                        actor_role="system",
                        at=now,
                        incident_id=audit.incident_id,
                        detail={
                            "recipient_type": audit.recipient_type,
                            "recipient_id": str(audit.recipient_id),
                            "channel": audit.channel,
                            "purpose": audit.purpose,
                        },
                    ),
                )


async def _until_written(write: Callable[[], Awaitable[None]]) -> None:
    """Retry a database write for up to RECORD_WITHIN seconds (inside the send's timeout)."""
    deadline = time.monotonic() + RECORD_WITHIN
    delay = 0.5
    while True:
        try:
            return await write()
        except DBAPIError as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("notification.record_retry", error_type=type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)


async def _heartbeating(work: Coroutine[Any, Any, T]) -> T:
    """Heartbeat while the send runs, so a worker that dies mid-send is noticed within the
    heartbeat timeout (the retry then finds the attempt `queued` and does not resend)."""
    task = asyncio.ensure_future(work)
    while True:
        activity.heartbeat()
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
