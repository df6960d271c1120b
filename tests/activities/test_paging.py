"""Paging staff with real parts: the `page_staff` activity on a migrated database (SQLite and
PostgreSQL), the real Twilio SDK against a local server that answers as Twilio does, and email to
a real SMTP server. A page falls back channel by channel, recipient by recipient and target by
target, ends with a person or the console, and never sends twice on one channel."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.channels import (
    ConsoleChannel,
    DeliveryChannel,
    DeliveryReceipt,
    EmailChannel,
    OutboundMessage,
    SmsChannel,
    TwilioAccount,
    VoiceChannel,
)
from activities.paging import PagingActivities
from domain.effects import PageRequest, PageResult, Unreachable
from domain.incident import PageOrder, PageTarget
from domain.models import Incident, Notification, Staff
from domain.models.programs import StaffCreate
from domain.vocabulary import Channel, Role
from infra.db import make_async_engine, session_factory, transaction
from infra.records import create_staff
from tests.fakes import smtp as smtp_fakes
from tests.fakes import twilio as twilio_fakes
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import encrypted_client
from workflows import paging as paging_workflow

smtp_sink = smtp_fakes.smtp_sink
fake_twilio = twilio_fakes.fake_twilio

PUBLIC_URL = "https://crisisdesk.test"
SUPERVISOR_PHONE = "+15035550111"
SUPERVISOR_EMAIL = "sam.supervisor@example.org"
BACKUP_EMAIL = "bo.backup@example.org"
ADMIN_PHONE = "+15035550122"
ADMIN_EMAIL = "ada.admin@example.org"


@dataclasses.dataclass
class Paging:
    """A program with one staff member of each role (no phone or email yet), an incident, and
    the real channels aimed at the fakes."""

    sessions: async_sessionmaker[AsyncSession]
    demo: DemoProgram
    incident_id: uuid.UUID
    channels: dict[Channel, DeliveryChannel]
    twilio: FakeTwilio
    smtp: SmtpSink

    @property
    def supervisor(self) -> Staff:
        return self.demo.staff[Role.SUPERVISOR]

    def request(
        self, target: PageTarget = PageTarget.ON_CALL_SUPERVISOR, **order: Any
    ) -> PageRequest:
        return PageRequest(
            incident_id=self.incident_id,
            program_id=self.demo.program.id,
            order=PageOrder(
                page_id="assessment_overdue-1",
                reason="no assessment within the protocol's window",
                target=target,
                ordered_at=datetime.now(UTC),
                **order,
            ),
        )

    async def page(self, request: PageRequest | None = None) -> PageResult:
        activities = PagingActivities(self.sessions, self.channels)
        return await activities.page_staff(request or self.request())

    async def reach(
        self, staff: Staff, *, phone: str | None = None, email: str | None = None
    ) -> None:
        """Give a staff member a phone and an email, as an admin would."""
        async with transaction(self.sessions) as session:
            row = await session.get(Staff, staff.id)
            assert row is not None
            row.phone, row.email = phone, email

    async def hire(self, role: Role, name: str, **fields: Any) -> Staff:
        async with transaction(self.sessions) as session:
            member, _ = await create_staff(
                session,
                program_id=self.demo.program.id,
                data=StaffCreate(name=name, role=role, **fields),
            )
        return member

    async def attempts(self) -> list[Notification]:
        async with self.sessions() as session:
            found = await session.exec(
                select(Notification)
                .where(Notification.incident_id == self.incident_id)
                .order_by(col(Notification.created_at))
            )
            return list(found.all())

    def texts_to(self, phone: str) -> int:
        return sum(
            1 for r in self.twilio.requests if r.kind == "message" and r.form.get("To") == phone
        )

    def calls_to(self, phone: str) -> int:
        return sum(
            1 for r in self.twilio.requests if r.kind == "call" and r.form.get("To") == phone
        )


def channels_for(
    twilio: FakeTwilio, smtp: SmtpSink, timeout: float = 5.0
) -> dict[Channel, DeliveryChannel]:
    account = TwilioAccount(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number=twilio.from_number,
        public_url=PUBLIC_URL,
        base_url=twilio.base_url,
        timeout=timeout,
    )
    return {
        Channel.SMS: SmsChannel(account),
        Channel.VOICE: VoiceChannel(account),
        Channel.EMAIL: EmailChannel(
            host="127.0.0.1", port=smtp.port, sender="pages@crisisdesk.test", timeout=5.0
        ),
        Channel.CONSOLE: ConsoleChannel(),
    }


@pytest.fixture
async def paging(
    sessions: async_sessionmaker[AsyncSession], fake_twilio: FakeTwilio, smtp_sink: SmtpSink
) -> Paging:
    demo = await make_program(sessions)
    incident_id = uuid.uuid4()
    clinician = demo.staff[Role.CLINICIAN].id
    async with transaction(sessions) as session:
        session.add(
            Incident(
                id=incident_id,
                program_id=demo.program.id,
                client_id=demo.client.id,
                workflow_id=f"incident-{incident_id}",
                crisis_type="suicidal_ideation",
                stage="open",
                owner_id=clinician,
                opened_by=clinician,
                protocol_version="test",
            )
        )
    channels = channels_for(fake_twilio, smtp_sink)
    return Paging(sessions, demo, incident_id, channels, fake_twilio, smtp_sink)


def assert_phi_free(result: PageResult, *secrets: str) -> None:
    text = result.model_dump_json()
    for secret in (*secrets, "supervisor of demo", "admin of demo"):
        assert secret not in text


# --- one person, channel by channel -----------------------------------------------------------


async def test_a_supervisor_who_texted_stop_is_called_instead_and_texted_only_once(
    paging: Paging,
) -> None:
    supervisor = str(paging.supervisor.id)
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE, email=SUPERVISOR_EMAIL)
    paging.twilio.refuse(SUPERVISOR_PHONE, 21610, kind="message")

    result = await paging.page()

    assert result.delivered
    assert (result.reached_target, result.recipients, result.channel) == (
        "on_call_supervisor",
        [supervisor],
        "voice",
    )
    assert paging.texts_to(SUPERVISOR_PHONE) == 1, "a refused text is never retried"
    [call] = paging.twilio.calls
    assert call.form["To"] == SUPERVISOR_PHONE
    assert "no assessment within the protocol's window" in call.form["Twiml"]
    assert paging.smtp.messages == [], "the call took the page: no email as well"
    [refused] = result.unreachable
    assert (refused.recipient_id, refused.target, refused.channel) == (
        supervisor,
        "on_call_supervisor",
        "sms",
    )
    assert refused.reason.startswith("permanent: ")
    assert "21610" in refused.reason
    text, voice = await paging.attempts()
    assert (text.channel, text.status, text.error) == ("sms", "failed", refused.reason)
    assert (voice.channel, voice.status, voice.provider_ref) == ("voice", "queued", call.sid)
    assert_phi_free(result, SUPERVISOR_PHONE, SUPERVISOR_EMAIL)


async def test_a_supervisor_whose_phone_refuses_everything_gets_the_page_by_email(
    paging: Paging,
) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE, email=SUPERVISOR_EMAIL)
    paging.twilio.refuse(SUPERVISOR_PHONE, 21610, kind="message")
    paging.twilio.refuse(SUPERVISOR_PHONE, 21216, kind="call")

    result = await paging.page()

    assert (result.reached_target, result.channel) == ("on_call_supervisor", "email")
    [mail] = paging.smtp.messages
    assert mail["To"] == SUPERVISOR_EMAIL
    assert "no assessment within the protocol's window" in mail.get_content()
    text, call = result.unreachable
    assert (text.channel, call.channel) == ("sms", "voice")
    assert "code 21610" in text.reason and "code 21216" in call.reason
    assert len(paging.twilio.requests) == 2


async def test_twilio_failing_moves_on_to_the_next_channel_at_once_recorded_as_temporary(
    paging: Paging,
) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE, email=SUPERVISOR_EMAIL)
    paging.twilio.fail_next(1, status=503)

    result = await paging.page()

    assert result.channel == "voice"
    assert paging.texts_to(SUPERVISOR_PHONE) == 1
    [busy] = result.unreachable
    assert busy.channel == "sms"
    assert busy.reason.startswith("temporary: ")
    assert "HTTP 503" in busy.reason


# --- target by target -------------------------------------------------------------------------


async def test_an_unreachable_on_call_supervisor_hands_the_page_to_every_supervisor(
    paging: Paging,
) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE)
    paging.twilio.refuse(SUPERVISOR_PHONE, 21610, kind="message")
    paging.twilio.refuse(SUPERVISOR_PHONE, 21216, kind="call")
    backup = await paging.hire(Role.SUPERVISOR, "Bo Backup", email=BACKUP_EMAIL)
    silent = await paging.hire(Role.SUPERVISOR, "Cy Nophone")
    await paging.reach(paging.demo.staff[Role.ADMIN], email=ADMIN_EMAIL)

    result = await paging.page()

    assert (result.reached_target, result.recipients, result.channel) == (
        "all_supervisors",
        [str(backup.id)],
        "email",
    )
    assert [m["To"] for m in paging.smtp.messages] == [BACKUP_EMAIL], "the admins are not paged"
    # The on-call supervisor's phone was tried once, not again as one of all the supervisors.
    assert (paging.texts_to(SUPERVISOR_PHONE), paging.calls_to(SUPERVISOR_PHONE)) == (1, 1)
    assert [(u.target, u.recipient_id, u.channel) for u in result.unreachable] == [
        ("on_call_supervisor", str(paging.supervisor.id), "sms"),
        ("on_call_supervisor", str(paging.supervisor.id), "voice"),
        ("all_supervisors", str(silent.id), None),
    ]
    assert result.unreachable[-1].reason == "no phone or email on file"


async def test_when_no_supervisor_can_be_reached_the_admins_are_paged(paging: Paging) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE)
    paging.twilio.refuse(SUPERVISOR_PHONE, 21610, kind="message")
    paging.twilio.refuse(SUPERVISOR_PHONE, 21216, kind="call")
    admin = paging.demo.staff[Role.ADMIN]
    await paging.reach(admin, phone=ADMIN_PHONE)

    result = await paging.page()

    assert (result.reached_target, result.recipients, result.channel) == (
        "admins",
        [str(admin.id)],
        "sms",
    )
    [text] = paging.twilio.messages
    assert text.form["To"] == ADMIN_PHONE
    assert {u.target for u in result.unreachable} == {"on_call_supervisor"}
    assert_phi_free(result, SUPERVISOR_PHONE, ADMIN_PHONE)


async def test_when_nobody_can_be_reached_the_console_takes_the_page(paging: Paging) -> None:
    await paging.reach(paging.supervisor, email=SUPERVISOR_EMAIL)
    paging.smtp.refuse(SUPERVISOR_EMAIL, 550)

    result = await paging.page()

    assert result.delivered
    assert (result.reached_target, result.recipients, result.channel) == ("console", [], "console")
    assert paging.smtp.messages == paging.twilio.requests == []
    admin = str(paging.demo.staff[Role.ADMIN].id)
    assert [(u.target, u.recipient_id, u.channel, u.reason) for u in result.unreachable] == [
        (
            "on_call_supervisor",
            str(paging.supervisor.id),
            "email",
            "permanent: email: the relay refused the recipient (SMTP 550)",
        ),
        ("admins", admin, None, "no phone or email on file"),
    ]
    failed, console = await paging.attempts()
    assert (failed.channel, failed.status) == ("email", "failed")
    assert (console.channel, console.recipient_type, console.status) == (
        "console",
        "console",
        "sent",
    )
    assert_phi_free(result, SUPERVISOR_EMAIL)


async def test_a_page_for_one_staff_member_reaches_them_alone(paging: Paging) -> None:
    followup = paging.demo.staff[Role.FOLLOWUP]
    await paging.reach(followup, email="fay.followup@example.org")
    await paging.reach(paging.supervisor, email=SUPERVISOR_EMAIL)

    result = await paging.page(paging.request(PageTarget.STAFF, staff_id=followup.id))

    assert (result.reached_target, result.recipients) == ("staff", [str(followup.id)])
    assert [m["To"] for m in paging.smtp.messages] == ["fay.followup@example.org"]


async def test_every_supervisor_of_a_reached_target_gets_the_page(paging: Paging) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE)
    backup = await paging.hire(Role.SUPERVISOR, "Bo Backup", email=BACKUP_EMAIL)
    silent = await paging.hire(Role.SUPERVISOR, "Cy Nophone")

    result = await paging.page(paging.request(PageTarget.ALL_SUPERVISORS))

    assert result.reached_target == "all_supervisors"
    assert result.recipients == [str(paging.supervisor.id), str(backup.id)]
    assert result.channel == "email,sms"
    assert [u.recipient_id for u in result.unreachable] == [str(silent.id)]
    assert [m["To"] for m in paging.smtp.messages] == [BACKUP_EMAIL]
    assert paging.texts_to(SUPERVISOR_PHONE) == 1


# --- at most once -----------------------------------------------------------------------------


async def test_a_retried_activity_pages_nobody_twice(paging: Paging) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE)
    admin = paging.demo.staff[Role.ADMIN]
    await paging.reach(admin, email=ADMIN_EMAIL)
    paging.twilio.refuse(SUPERVISOR_PHONE, 21610, kind="message")
    paging.twilio.refuse(SUPERVISOR_PHONE, 21216, kind="call")

    first = await paging.page()
    again = await paging.page()

    assert again == first
    assert first.reached_target == "admins"
    assert len(paging.twilio.requests) == 2, "the refused text and call, each once"
    assert len(paging.smtp.messages) == 1, "the admin's email, once"
    assert len(await paging.attempts()) == 3


async def test_a_retry_after_the_worker_died_mid_send_moves_on_instead_of_resending(
    paging: Paging,
) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE)

    class DiesAfterSending:
        """Twilio takes the text, then the worker is gone before it hears the answer."""

        name = Channel.SMS.value

        async def send(self, message: OutboundMessage) -> DeliveryReceipt:
            await paging.channels[Channel.SMS].send(message)
            raise RuntimeError("worker lost")

    dying = PagingActivities(paging.sessions, {**paging.channels, Channel.SMS: DiesAfterSending()})
    with pytest.raises(RuntimeError):
        await dying.page_staff(paging.request())

    result = await paging.page()

    assert paging.texts_to(SUPERVISOR_PHONE) == 1, "never texted twice"
    assert paging.calls_to(SUPERVISOR_PHONE) == 1
    assert result.channel == "voice"
    [unknown] = result.unreachable
    assert (unknown.channel, unknown.reason.split(":")[0]) == ("sms", "outcome unknown")
    text, _ = await paging.attempts()
    assert (text.status, text.error) == ("failed", unknown.reason)


async def test_a_text_twilio_took_but_never_answered_is_not_resent(paging: Paging) -> None:
    await paging.reach(paging.supervisor, phone=SUPERVISOR_PHONE)
    paging.channels = channels_for(paging.twilio, paging.smtp, timeout=0.2)
    paging.twilio.stall_next(0.5)

    first = await paging.page()
    again = await paging.page()

    assert first == again
    assert (first.channel, first.unreachable[0].channel) == ("voice", "sms")
    assert first.unreachable[0].reason.startswith("outcome unknown: ")
    assert (paging.texts_to(SUPERVISOR_PHONE), paging.calls_to(SUPERVISOR_PHONE)) == (1, 1)


# --- the workflow's side: bounded, never raising ----------------------------------------------


@workflow.defn(sandboxed=False)
class PageOnce:
    @workflow.run
    async def run(self, request: PageRequest) -> PageResult:
        return await paging_workflow.page_staff(
            request.incident_id, request.program_id, request.order
        )


async def test_a_page_the_database_cannot_take_ends_undelivered_within_its_budget(
    paging: Paging, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retries of a failing activity are not time-skipped: a short budget keeps the test quick.
    budget = timedelta(seconds=3)
    monkeypatch.setattr(paging_workflow, "PAGE_BUDGET", budget)
    engine = make_async_engine(f"sqlite:///{tmp_path}/missing/crisisdesk.db")
    broken = PagingActivities(session_factory(engine), paging.channels)
    client = encrypted_client(ts_env)
    queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[PageOnce], activities=[broken.page_staff]
    ):
        started = await ts_env.get_current_time()
        result = await client.execute_workflow(
            PageOnce.run, paging.request(), id=f"page-{uuid.uuid4()}", task_queue=queue
        )
        elapsed = await ts_env.get_current_time() - started
    await engine.dispose()

    assert not result.delivered
    assert (result.channel, result.reached_target, result.recipients) == ("none", "none", [])
    assert result.unreachable == [
        Unreachable(
            target="on_call_supervisor",
            reason="paging failed: OperationalError, retried until its time budget ran out",
        )
    ]
    assert elapsed < budget + timedelta(seconds=5)
    assert paging.twilio.requests == [] and paging.smtp.messages == []
