"""Sending a ladder message at most once (SPEC 3): the `send_message` activity on a migrated SQLite
database, with a scripted provider behind the channel interface (the network boundary) and no
Temporal server. A retry after a sent message never sends it again; a retry that finds an attempt
of unknown outcome never sends it again either, and fails the step so the ladder moves on; a
temporary failure is sent again, a permanent one never; what went out is recorded, audited and
logged without PHI."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import activities.notify as notify
from activities.channels import (
    DeliveryChannel,
    DeliveryError,
    DeliveryReceipt,
    OutboundMessage,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from activities.notify import NotifyActivities
from domain.messages import ladder_message
from domain.models import AuditEvent, Consent, EmergencyContact, Notification
from domain.models import Client as ClientRecord
from domain.models.clients import ConsentCreate, EmergencyContactCreate
from domain.notification import (
    AttemptOutcome,
    LadderPurpose,
    RecipientType,
    SendRequest,
    SendResult,
)
from domain.vocabulary import Channel, ConsentKind, ContactKind, DeliveryStatus, Role
from infra.ack_tokens import AckClaim, read_ack_token
from infra.db import transaction
from infra.records import add_consent, add_contact
from tests.helpers.programs import DemoProgram

PUBLIC_URL = "https://crisisdesk.test"
ACK_SECRET = b"the-fast-tests-ack-signing-key!!"
INCIDENT = UUID("00000000-0000-4000-8000-00000000a001")
LADDER = UUID("00000000-0000-4000-8000-00000000b001")
SISTER_EMAIL = "lia@example.org"
SISTER_PHONE = "+15035550101"
CLIENT_EMAIL = "ana@example.org"
CLIENT_PHONE = "+15035550100"  # tests.helpers.programs gives the demo client this number
PHI = ("Lia", "Ruiz", "Ana", SISTER_EMAIL, SISTER_PHONE, CLIENT_EMAIL, CLIENT_PHONE)

Answer = DeliveryReceipt | DeliveryError | OSError


@dataclass
class ScriptedProvider:
    """A provider behind the channel interface: answers each send from its script (then accepts
    every further one), and keeps every message it was handed."""

    name: str
    script: list[Answer] = field(default_factory=list)
    during_send: Callable[[], Awaitable[None]] | None = None
    handed: list[OutboundMessage] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.handed.append(message)
        if self.during_send is not None:
            await self.during_send()
        answer = self.script.pop(0) if self.script else None
        if isinstance(answer, Exception):
            raise answer
        return answer or DeliveryReceipt(DeliveryStatus.SENT, f"{self.name}-{len(self.handed)}")


@dataclass
class Sending:
    """The demo program, the client's sister (text and email), providers for SMS and email, and the
    activity as the worker builds it."""

    sessions: async_sessionmaker[AsyncSession]
    demo: DemoProgram
    sister: EmergencyContact
    sms: ScriptedProvider
    email: ScriptedProvider
    heartbeats: int = 0
    # As configured: a trailing slash must not double the link's.
    public_url: str = f"{PUBLIC_URL}/"

    @property
    def activities(self) -> NotifyActivities:
        channels: dict[Channel, DeliveryChannel] = {
            Channel.SMS: self.sms,
            Channel.EMAIL: self.email,
        }
        return NotifyActivities(
            self.sessions, channels, public_url=self.public_url, ack_secret=ACK_SECRET
        )

    def request(
        self,
        channel: Channel = Channel.EMAIL,
        *,
        to_client: bool = False,
        recipient_id: UUID | None = None,
        consent_ids: tuple[UUID, ...] = (),
    ) -> SendRequest:
        return SendRequest(
            incident_id=INCIDENT,
            program_id=self.demo.program.id,
            ladder_id=LADDER,
            purpose=LadderPurpose.LOST_CONTACT if to_client else LadderPurpose.EMERGENCY_CONTACT,
            recipient_type=RecipientType.CLIENT if to_client else RecipientType.CONTACT,
            recipient_id=recipient_id or (self.demo.client.id if to_client else self.sister.id),
            channel=channel,
            ack_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
            consent_ids=consent_ids,
        )

    async def send(self, request: SendRequest) -> SendResult:
        """One try of the activity, as a worker runs it (heartbeats counted)."""
        environment = ActivityEnvironment()

        def heartbeat(*_: Any) -> None:
            self.heartbeats += 1

        environment.on_heartbeat = heartbeat
        return await environment.run(self.activities.send_message, request)

    async def attempt(self, request: SendRequest) -> Notification:
        async with self.sessions() as session:
            found = await session.exec(
                select(Notification).where(Notification.idempotency_key == request.idempotency_key)
            )
            return found.one()

    async def set_status(self, request: SendRequest, status: DeliveryStatus) -> None:
        """What the provider's status callback does to the attempt."""
        async with transaction(self.sessions) as session:
            row = (
                await session.exec(
                    select(Notification).where(
                        Notification.idempotency_key == request.idempotency_key
                    )
                )
            ).one()
            row.status = status

    async def consent(self, contact: EmergencyContact | None = None) -> Consent:
        """A current written consent (42 CFR Part 2) to tell this contact (the sister)."""
        async with transaction(self.sessions) as session:
            return await add_consent(
                session,
                client=self.demo.client,
                data=ConsentCreate(
                    kind=ConsentKind.PART2,
                    contact_id=(contact or self.sister).id,
                    expires_at=datetime(2030, 1, 1, tzinfo=UTC),
                ),
                recorded_by=self.demo.staff[Role.ADMIN].id,
            )

    async def end_consent(self, consent: Consent, **ended: datetime) -> None:
        """Revoked (`revoked_at`) or expired (`expires_at`) since the decision rested on it."""
        async with transaction(self.sessions) as session:
            row = await session.get(Consent, consent.id)
            assert row is not None
            for name, at in ended.items():
                setattr(row, name, at)

    async def audit(self) -> list[AuditEvent]:
        async with self.sessions() as session:
            found = await session.exec(select(AuditEvent).order_by(col(AuditEvent.seq)))
            return list(found.all())


@pytest_asyncio.fixture(loop_scope="session")
async def sending(sqlite_sessions: async_sessionmaker[AsyncSession], demo: DemoProgram) -> Sending:
    async with transaction(sqlite_sessions) as session:
        sister = await add_contact(
            session,
            client=demo.client,
            data=EmergencyContactCreate(
                name="Lia Ruiz",
                relationship="sister",
                kind=ContactKind.PERSONAL,
                phone=SISTER_PHONE,
                email=SISTER_EMAIL,
                channels=[Channel.SMS, Channel.EMAIL],
                priority=1,
            ),
        )
    return Sending(
        sqlite_sessions, demo, sister, sms=ScriptedProvider("sms"), email=ScriptedProvider("email")
    )


@pytest.fixture
def logs() -> Any:
    with structlog.testing.capture_logs() as events:
        yield events


def assert_no_phi(events: list[dict[str, Any]]) -> None:
    text = repr(events)
    for secret in PHI:
        assert secret not in text


# --- the first try ----------------------------------------------------------------------------


async def test_a_message_goes_out_once_with_the_minimum_text_and_a_signed_ack_link(
    sending: Sending, logs: list[dict[str, Any]]
) -> None:
    request = sending.request(Channel.EMAIL)

    result = await sending.send(request)

    row = await sending.attempt(request)
    assert result == SendResult(outcome=AttemptOutcome.SENT, notification_id=row.id)
    [message] = sending.email.handed
    text = ladder_message(
        LadderPurpose.EMERGENCY_CONTACT,
        client_first_name="Ana",
        program_name="demo IOP",
        callback_number="988",
    )
    assert message.idempotency_key == request.idempotency_key
    assert (message.incident_id, message.recipient_id) == (str(INCIDENT), str(sending.sister.id))
    assert (message.address, message.subject, message.body) == (
        SISTER_EMAIL,
        text.subject,
        text.body,
    )
    assert message.ack_url is not None
    link, _, token = message.ack_url.rpartition("/")
    assert link == f"{PUBLIC_URL}/v1/acks"
    assert read_ack_token(ACK_SECRET, token, now=datetime(2029, 1, 1, tzinfo=UTC)) == AckClaim(
        incident_id=INCIDENT,
        ladder_id=LADDER,
        recipient_id=sending.sister.id,
        channel=Channel.EMAIL,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert sending.sms.handed == []
    assert sending.heartbeats >= 1
    # The attempt, as the incident detail shows it.
    assert (row.status, row.provider_ref, row.attempt, row.error) == ("sent", "email-1", 1, None)
    assert (row.incident_id, row.program_id, row.purpose) == (
        INCIDENT,
        sending.demo.program.id,
        "emergency_contact",
    )
    assert (row.recipient_type, row.recipient_id, row.channel) == (
        "contact",
        str(sending.sister.id),
        "email",
    )
    assert row.idempotency_key == request.idempotency_key
    assert row.created_at <= row.updated_at
    # The disclosure is in the audit chain: who was told, how, and why; never the address.
    [event] = await sending.audit()
    assert (event.event_key, event.action, event.actor_id, event.actor_role) == (
        f"sent:{request.idempotency_key}",
        "notification.sent",
        "system",
        "system",
    )
    assert (event.program_id, event.incident_id) == (sending.demo.program.id, INCIDENT)
    assert event.detail == {
        "recipient_type": "contact",
        "recipient_id": str(sending.sister.id),
        "channel": "email",
        "purpose": "emergency_contact",
    }
    assert event.at == row.updated_at
    assert [e for e in logs if e["event"].startswith("notification.")] == [
        {
            "event": "notification.sent",
            "log_level": "info",
            "incident_id": str(INCIDENT),
            "idempotency_key": request.idempotency_key,
            "channel": "email",
        }
    ]
    assert_no_phi(logs)


async def test_a_text_goes_to_the_contacts_phone(sending: Sending) -> None:
    await sending.send(sending.request(Channel.SMS))

    [message] = sending.sms.handed
    assert message.address == SISTER_PHONE
    assert sending.email.handed == []


@pytest.mark.parametrize(
    ("channel", "address"), [(Channel.SMS, CLIENT_PHONE), (Channel.EMAIL, CLIENT_EMAIL)]
)
async def test_a_lost_contact_message_reaches_the_client_themself(
    sending: Sending, channel: Channel, address: str
) -> None:
    async with transaction(sending.sessions) as session:
        client = await session.get(ClientRecord, sending.demo.client.id)
        assert client is not None
        client.email = CLIENT_EMAIL
    request = sending.request(channel, to_client=True)

    await sending.send(request)

    [message] = (sending.sms if channel is Channel.SMS else sending.email).handed
    text = ladder_message(
        LadderPurpose.LOST_CONTACT,
        client_first_name="Ana",
        program_name="demo IOP",
        callback_number="988",
    )
    assert (message.address, message.subject, message.body) == (address, text.subject, text.body)
    assert message.recipient_id == str(sending.demo.client.id)
    row = await sending.attempt(request)
    assert (row.recipient_type, row.purpose) == ("client", "lost_contact")


async def test_the_providers_queued_answer_is_recorded_and_a_later_status_is_never_undone(
    sending: Sending,
) -> None:
    queued = sending.request(Channel.SMS)
    sending.sms.script = [DeliveryReceipt(DeliveryStatus.QUEUED, "SM-queued")]
    await sending.send(queued)
    row = await sending.attempt(queued)
    assert (row.status, row.provider_ref) == ("queued", "SM-queued")

    # The provider's delivery report can arrive before the activity records the provider's answer.
    early = sending.request(Channel.EMAIL)
    sending.email.during_send = lambda: sending.set_status(early, DeliveryStatus.DELIVERED)
    await sending.send(early)
    row = await sending.attempt(early)
    assert (row.status, row.provider_ref) == ("delivered", "email-1")


# --- retries: never twice -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.ACKNOWLEDGED]
)
async def test_a_retry_after_the_message_went_out_sends_nothing(
    sending: Sending, status: DeliveryStatus
) -> None:
    request = sending.request(Channel.SMS)
    first = await sending.send(request)
    await sending.set_status(request, status)

    again = await sending.send(request)

    row = await sending.attempt(request)
    assert again == first == SendResult(outcome=AttemptOutcome.SENT, notification_id=row.id)
    assert len(sending.sms.handed) == 1
    assert (row.status, row.attempt) == (status, 1)
    assert len(await sending.audit()) == 1


async def test_a_retry_that_finds_an_attempt_of_unknown_outcome_never_texts_twice(
    sending: Sending,
) -> None:
    request = sending.request(Channel.SMS)
    # The connection dropped after the request was written: the provider may have sent it.
    sending.sms.script = [ConnectionResetError("connection reset by peer")]
    with pytest.raises(ConnectionResetError):
        await sending.send(request)
    assert (await sending.attempt(request)).status == "queued"

    with pytest.raises(ApplicationError) as refused:
        await sending.send(request)

    assert refused.value.type == "UnknownDeliveryOutcome"
    assert refused.value.non_retryable
    assert refused.value.message == (
        "a previous try may have sent this message; not sending it again"
    )
    assert len(sending.sms.handed) == 1
    row = await sending.attempt(request)
    # Never counted as sent: the ladder moves on to the next channel.
    assert (row.status, row.error, row.attempt) == ("failed", "outcome unknown: not resent", 1)
    assert await sending.audit() == []


async def test_a_retry_after_a_temporary_failure_sends_again(sending: Sending) -> None:
    request = sending.request(Channel.EMAIL)
    sending.email.script = [TemporaryDeliveryError("smtp: 451 try again later")]
    with pytest.raises(TemporaryDeliveryError):
        await sending.send(request)
    failed = await sending.attempt(request)
    assert (failed.status, failed.error) == ("failed", "temporary: smtp: 451 try again later")

    result = await sending.send(request)

    row = await sending.attempt(request)
    assert result == SendResult(outcome=AttemptOutcome.SENT, notification_id=row.id)
    assert row.id == failed.id
    assert (row.status, row.error, row.attempt, row.provider_ref) == ("sent", None, 2, "email-2")
    assert row.updated_at > failed.updated_at
    assert [m.idempotency_key for m in sending.email.handed] == [request.idempotency_key] * 2
    assert len(await sending.audit()) == 1


async def test_a_permanent_refusal_is_never_tried_again(sending: Sending) -> None:
    request = sending.request(Channel.SMS)
    sending.sms.script = [PermanentDeliveryError("sms: 21610 the recipient unsubscribed")]
    with pytest.raises(PermanentDeliveryError):
        await sending.send(request)
    row = await sending.attempt(request)
    assert (row.status, row.error) == ("failed", "permanent: sms: 21610 the recipient unsubscribed")

    with pytest.raises(PermanentDeliveryError) as again:
        await sending.send(request)

    assert str(again.value) == "permanent: sms: 21610 the recipient unsubscribed"
    assert len(sending.sms.handed) == 1
    assert (await sending.attempt(request)).attempt == 1


async def test_a_public_url_under_a_path_keeps_its_path_in_the_ack_link(sending: Sending) -> None:
    sending.public_url = "https://care.example/IOP-X/"

    await sending.send(sending.request(Channel.SMS))

    [message] = sending.sms.handed
    assert message.ack_url is not None
    assert message.ack_url.startswith("https://care.example/IOP-X/v1/acks/")


# --- consent: a disclosure that rested on it stops when it ends ---------------------------------


async def test_a_message_resting_on_a_current_consent_goes_out(sending: Sending) -> None:
    revoked, current = await sending.consent(), await sending.consent()
    await sending.end_consent(revoked, revoked_at=datetime(2026, 1, 1, tzinfo=UTC))

    result = await sending.send(sending.request(consent_ids=(revoked.id, current.id)))

    assert result.outcome is AttemptOutcome.SENT
    assert len(sending.email.handed) == 1


@pytest.mark.parametrize("ended", ["revoked_at", "expires_at"])
async def test_nothing_more_goes_to_a_contact_whose_consent_ended(
    sending: Sending, ended: str, logs: list[dict[str, Any]]
) -> None:
    consent = await sending.consent()
    await sending.end_consent(consent, **{ended: datetime(2026, 1, 1, tzinfo=UTC)})
    request = sending.request(Channel.SMS, consent_ids=(consent.id,))

    result = await sending.send(request)

    assert result == SendResult(outcome=AttemptOutcome.STOPPED, reason="consent_revoked")
    assert sending.sms.handed == []
    row = await sending.attempt(request)
    assert (row.status, row.error, row.channel) == ("stopped", "consent_revoked", "sms")
    assert await sending.audit() == []
    assert [e for e in logs if e["event"].startswith("notification.")] == [
        {
            "event": "notification.stopped",
            "log_level": "info",
            "incident_id": str(INCIDENT),
            "idempotency_key": request.idempotency_key,
            "channel": "sms",
            "why": "consent_revoked",
        }
    ]


async def test_a_consent_for_another_contact_does_not_cover_this_one(sending: Sending) -> None:
    async with transaction(sending.sessions) as session:
        brother = await add_contact(
            session,
            client=sending.demo.client,
            data=EmergencyContactCreate(
                name="Teo Ruiz",
                relationship="brother",
                kind=ContactKind.PERSONAL,
                email="teo@example.org",
                channels=[Channel.EMAIL],
                priority=2,
            ),
        )
    brothers = await sending.consent(brother)

    result = await sending.send(sending.request(consent_ids=(brothers.id,)))

    assert result.outcome is AttemptOutcome.STOPPED
    assert sending.email.handed == []


# --- nothing to send on -------------------------------------------------------------------------


async def test_a_channel_this_worker_lacks_is_skipped_and_recorded(
    sending: Sending, logs: list[dict[str, Any]]
) -> None:
    request = sending.request(Channel.VOICE)
    started = datetime.now(UTC)

    result = await sending.send(request)

    reason = "the voice channel is not configured"
    assert result == SendResult(outcome=AttemptOutcome.SKIPPED, reason=reason)
    row = await sending.attempt(request)
    assert (row.status, row.error, row.channel) == ("failed", reason, "voice")
    assert started <= row.created_at == row.updated_at <= datetime.now(UTC)
    assert sending.sms.handed == sending.email.handed == []
    assert [e for e in logs if e["event"].startswith("notification.")] == [
        {
            "event": "notification.skipped",
            "log_level": "warning",
            "incident_id": str(INCIDENT),
            "idempotency_key": request.idempotency_key,
            "channel": "voice",
            "why": reason,
        }
    ]


async def test_a_contact_without_that_address_is_skipped_and_recorded(
    sending: Sending, logs: list[dict[str, Any]]
) -> None:
    async with transaction(sending.sessions) as session:
        emailed = await add_contact(
            session,
            client=sending.demo.client,
            data=EmergencyContactCreate(
                name="Lia Ruiz",
                relationship="sister",
                kind=ContactKind.PERSONAL,
                email=SISTER_EMAIL,
                channels=[Channel.EMAIL],
                priority=2,
            ),
        )
    request = sending.request(Channel.SMS, recipient_id=emailed.id)

    result = await sending.send(request)

    reason = "no sms address on file"
    assert result == SendResult(outcome=AttemptOutcome.SKIPPED, reason=reason)
    assert (await sending.attempt(request)).error == reason
    assert sending.sms.handed == []
    assert_no_phi(logs)


# --- the database after the provider accepted ---------------------------------------------------


async def test_a_database_blip_after_the_provider_accepted_is_retried_not_lost(
    sending: Sending,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    logs: list[dict[str, Any]],
) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER blip BEFORE UPDATE ON notification WHEN NEW.status = 'sent' "
            "BEGIN SELECT RAISE(ABORT, 'database unavailable'); END"
        )
    waits: list[float] = []

    async def the_database_comes_back(seconds: float) -> None:
        waits.append(seconds)
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER IF EXISTS blip")

    monkeypatch.setattr(notify, "asyncio", SimpleNamespace(**vars(asyncio)))
    monkeypatch.setattr(notify.asyncio, "sleep", the_database_comes_back)
    request = sending.request(Channel.SMS)

    result = await sending.send(request)

    row = await sending.attempt(request)
    assert result == SendResult(outcome=AttemptOutcome.SENT, notification_id=row.id)
    assert (row.status, row.provider_ref) == ("sent", "sms-1")
    assert waits == [0.5]
    assert len(sending.sms.handed) == 1
    assert [e["event"] for e in logs if e["event"].startswith("notification.")] == [
        "notification.record_retry",
        "notification.sent",
    ]
    assert logs[0]["error_type"] == "IntegrityError"


class FakeClock:
    """Time for `_until_written`: each write takes `write_takes` seconds, each wait what it asks."""

    def __init__(self, write_takes: float = 0.0) -> None:
        self.now = 1000.0
        self.write_takes = write_takes
        self.waits: list[float] = []
        self.writes = 0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def failing_write(self) -> None:
        self.writes += 1
        self.now += self.write_takes
        raise DBAPIError("UPDATE notification", {}, OSError("database unavailable"))


def use_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(notify, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(notify, "asyncio", SimpleNamespace(sleep=clock.sleep))


async def test_recording_a_sent_message_backs_off_and_gives_up_within_20_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    use_clock(monkeypatch, clock)

    with pytest.raises(DBAPIError):
        await notify._until_written(clock.failing_write)

    # Half a second, doubling up to 4 s, inside the send's 30 s start-to-close timeout.
    assert clock.waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert clock.writes == 8
    assert clock.now - 1000.0 == 19.5


async def test_a_wait_that_ends_exactly_at_the_20_second_budget_is_still_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(write_takes=0.75)
    use_clock(monkeypatch, clock)

    with pytest.raises(DBAPIError):
        await notify._until_written(clock.failing_write)

    # After the sixth write the clock reads 16 s, and the 4 s wait ends at the budget, not past it.
    assert clock.waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert clock.writes == 7


async def test_a_write_that_succeeds_after_a_blip_returns_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    use_clock(monkeypatch, clock)
    outcomes: list[Exception | None] = [
        DBAPIError("UPDATE notification", {}, OSError("blip")),
        None,
    ]

    async def write() -> None:
        clock.writes += 1
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    await notify._until_written(write)

    assert (clock.writes, clock.waits) == (2, [0.5])


async def test_a_slow_provider_is_heartbeaten_throughout(
    sending: Sending, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "HEARTBEAT_EVERY", 0.02)

    async def slow() -> None:
        await asyncio.sleep(0.2)

    sending.sms.during_send = slow

    await sending.send(sending.request(Channel.SMS))

    # A worker busy with one slow send still tells Temporal it is alive.
    assert sending.heartbeats >= 4
