"""Delivery channels against real servers on loopback: an SMTP relay (aiosmtpd), a server that
answers as Twilio's REST API does, and a webhook receiver. Each failure a provider can give is
sorted into temporary (retry) or permanent (move on), and nothing about the recipient is logged."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import structlog
from aiohttp import BasicAuth

from activities.channels import (
    ConsoleChannel,
    DeliveryReceipt,
    EmailChannel,
    OutboundMessage,
    PermanentDeliveryError,
    SmsChannel,
    TemporaryDeliveryError,
    TwilioAccount,
    UnknownDeliveryOutcome,
    VoiceChannel,
    WebhookChannel,
    channels_from_settings,
)
from domain.vocabulary import Channel, DeliveryStatus
from infra.settings import Settings
from tests.fakes import smtp as smtp_fakes
from tests.fakes import twilio as twilio_fakes
from tests.fakes import webhook as webhook_fakes
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.fakes.webhook import WebhookReceiver

smtp_sink = smtp_fakes.smtp_sink
fake_twilio = twilio_fakes.fake_twilio
webhook_receiver = webhook_fakes.webhook_receiver

PHONE = "+15035550123"
EMAIL = "jo.family@example.org"
BODY = "Jo, CrisisDesk needs to reach you about someone you support. Call 503-555-0199."
ACK_URL = "https://crisisdesk.test/v1/acks/token-abc"
PUBLIC_URL = "https://crisisdesk.test"
SECRET = "whsec-test-0123456789"
PHI = (PHONE, EMAIL, BODY, "503-555-0199")


def message(address: str | None, key: str = "ladder:inc-1:lad-1:rec-1:sms") -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        incident_id="inc-1",
        recipient_id="rec-1",
        address=address,
        subject="CrisisDesk: please call us",
        body=BODY,
        ack_url=ACK_URL,
    )


def email_channel(sink: SmtpSink) -> EmailChannel:
    return EmailChannel(
        host="127.0.0.1", port=sink.port, sender="alerts@crisisdesk.test", timeout=2.0
    )


def account(fake: FakeTwilio) -> TwilioAccount:
    return TwilioAccount(
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        from_number=fake.from_number,
        public_url=PUBLIC_URL,
        base_url=fake.base_url,
        timeout=2.0,
    )


# The fake providers' own loggers: what the outside world logs is not CrisisDesk's log.
FAKE_PROVIDER_LOGGERS = ("mail.log", "aiohttp.")


class CapturedLogs:
    """What CrisisDesk logged so far in the test (structlog events and stdlib records, the
    libraries it calls included), as text."""

    def __init__(self, events: list[Any], caplog: pytest.LogCaptureFixture) -> None:
        self._events = events
        self._caplog = caplog

    def lines(self) -> list[str]:
        return [json.dumps(event, default=str) for event in self._events] + [
            record.getMessage()
            for record in self._caplog.records
            if not record.name.startswith(FAKE_PROVIDER_LOGGERS)
        ]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        yield CapturedLogs(events, caplog)


def assert_no_phi(*texts: str) -> None:
    for text in texts:
        for secret in PHI:
            assert secret not in text


# --- email ----------------------------------------------------------------------------------


async def test_email_reaches_the_relay_with_subject_body_ack_link_and_key(
    smtp_sink: SmtpSink,
) -> None:
    receipt = await email_channel(smtp_sink).send(message(EMAIL))

    [sent] = smtp_sink.messages
    assert sent["To"] == EMAIL
    assert sent["From"] == "alerts@crisisdesk.test"
    assert sent["Subject"] == "CrisisDesk: please call us"
    text = sent.get_content()
    assert BODY in text
    assert f"Acknowledge: {ACK_URL}" in text
    assert sent["X-CrisisDesk-Idempotency-Key"] == "ladder:inc-1:lad-1:rec-1:sms"
    assert receipt == DeliveryReceipt(status=DeliveryStatus.SENT, provider_ref=sent["Message-ID"])


async def test_a_resent_email_keeps_its_message_id_and_another_send_gets_a_new_one(
    smtp_sink: SmtpSink,
) -> None:
    channel = email_channel(smtp_sink)
    await channel.send(message(EMAIL, key="k-1"))
    await channel.send(message(EMAIL, key="k-1"))
    await channel.send(message(EMAIL, key="k-2"))

    first, retry, other = (m["Message-ID"] for m in smtp_sink.messages)
    assert first == retry != other
    assert first.endswith("@crisisdesk.test>")


async def test_email_relay_down_is_temporary_and_mail_flows_when_it_is_back(
    smtp_sink: SmtpSink,
) -> None:
    channel = email_channel(smtp_sink)
    smtp_sink.stop()
    with pytest.raises(TemporaryDeliveryError, match="could not be reached"):
        await channel.send(message(EMAIL))

    smtp_sink.start()
    await channel.send(message(EMAIL))
    assert len(smtp_sink.messages) == 1


async def test_email_recipient_refused_with_550_is_permanent(
    smtp_sink: SmtpSink, logs: CapturedLogs
) -> None:
    smtp_sink.refuse(EMAIL, 550)
    with pytest.raises(PermanentDeliveryError) as raised:
        await email_channel(smtp_sink).send(message(EMAIL))

    assert raised.value.provider_code == "550"
    assert smtp_sink.messages == []
    assert_no_phi(str(raised.value), *logs.lines())


async def test_email_recipient_deferred_with_451_is_temporary(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse(EMAIL, 451)
    with pytest.raises(TemporaryDeliveryError) as raised:
        await email_channel(smtp_sink).send(message(EMAIL))
    assert raised.value.provider_code == "451"


@pytest.mark.parametrize("address", [None, ""])
async def test_a_message_without_an_address_is_permanent_on_every_addressed_channel(
    smtp_sink: SmtpSink, fake_twilio: FakeTwilio, address: str | None
) -> None:
    for channel in (
        email_channel(smtp_sink),
        SmsChannel(account(fake_twilio)),
        VoiceChannel(account(fake_twilio)),
    ):
        with pytest.raises(PermanentDeliveryError, match="no address"):
            await channel.send(message(address))
    assert smtp_sink.messages == fake_twilio.requests == []


# --- Twilio: SMS and voice ------------------------------------------------------------------


async def test_sms_reaches_twilio_with_number_text_ack_link_auth_and_keyed_callback(
    fake_twilio: FakeTwilio,
) -> None:
    receipt = await SmsChannel(account(fake_twilio)).send(message(PHONE))

    [sent] = fake_twilio.messages
    assert sent.form["To"] == PHONE
    assert sent.form["From"] == fake_twilio.from_number
    assert sent.form["Body"] == f"{BODY}\n\nAcknowledge: {ACK_URL}"
    auth = BasicAuth.decode(sent.headers["Authorization"])
    assert (auth.login, auth.password) == (fake_twilio.account_sid, fake_twilio.auth_token)
    callback = urlsplit(sent.form["StatusCallback"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == (
        f"{PUBLIC_URL}/v1/callbacks/twilio/status"
    )
    assert parse_qs(callback.query) == {"key": ["ladder:inc-1:lad-1:rec-1:sms"]}
    assert receipt == DeliveryReceipt(status=DeliveryStatus.QUEUED, provider_ref=sent.sid)
    assert sent.sid.startswith("SM")


async def test_voice_call_reads_the_text_twice_and_takes_a_key_press_as_the_ack(
    fake_twilio: FakeTwilio,
) -> None:
    receipt = await VoiceChannel(account(fake_twilio)).send(message(PHONE, key="k:voice"))

    [call] = fake_twilio.calls
    assert (call.form["To"], call.form["From"]) == (PHONE, fake_twilio.from_number)
    assert parse_qs(urlsplit(call.form["StatusCallback"]).query) == {"key": ["k:voice"]}
    twiml = ET.fromstring(call.form["Twiml"])  # noqa: S314 (our own TwiML)
    gather = twiml.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1"
    action = urlsplit(gather.get("action", ""))
    assert action.path == "/v1/callbacks/twilio/voice"
    assert parse_qs(action.query) == {"key": ["k:voice"]}
    say = gather.find("Say")
    assert say is not None and say.get("loop") == "2"
    assert say.text == f"{BODY} Press 1 to acknowledge."
    assert ACK_URL not in call.form["Twiml"]
    assert receipt == DeliveryReceipt(status=DeliveryStatus.QUEUED, provider_ref=call.sid)
    assert call.sid.startswith("CA")


@pytest.mark.parametrize("channel_type", [SmsChannel, VoiceChannel])
@pytest.mark.parametrize("status", [503, 500, 429])
async def test_twilio_busy_or_failing_is_temporary(
    fake_twilio: FakeTwilio,
    channel_type: type[SmsChannel] | type[VoiceChannel],
    status: int,
) -> None:
    fake_twilio.fail_next(1, status=status)
    channel = channel_type(account(fake_twilio))
    with pytest.raises(TemporaryDeliveryError, match=f"HTTP {status}"):
        await channel.send(message(PHONE))

    await channel.send(message(PHONE))
    assert len(fake_twilio.messages) + len(fake_twilio.calls) == 1


@pytest.mark.parametrize("channel_type", [SmsChannel, VoiceChannel])
@pytest.mark.parametrize("code", [21211, 21610, 21614])
async def test_twilio_refusing_the_recipient_is_permanent(
    fake_twilio: FakeTwilio,
    channel_type: type[SmsChannel] | type[VoiceChannel],
    code: int,
    logs: CapturedLogs,
) -> None:
    fake_twilio.fail_with_code(code, status=400)
    with pytest.raises(PermanentDeliveryError) as raised:
        await channel_type(account(fake_twilio)).send(message(PHONE))

    assert raised.value.provider_code == str(code)
    assert fake_twilio.messages == fake_twilio.calls == []
    assert_no_phi(str(raised.value), *logs.lines())


async def test_an_invalid_number_is_refused_by_twilio_and_permanent(
    fake_twilio: FakeTwilio, logs: CapturedLogs
) -> None:
    with pytest.raises(PermanentDeliveryError) as raised:
        await SmsChannel(account(fake_twilio)).send(message("503-555-0199"))

    assert raised.value.provider_code == "21211"
    assert_no_phi(str(raised.value), *logs.lines())


async def test_wrong_twilio_credentials_are_permanent(fake_twilio: FakeTwilio) -> None:
    wrong = TwilioAccount(
        account_sid=fake_twilio.account_sid,
        auth_token="not-the-token",
        from_number=fake_twilio.from_number,
        public_url=PUBLIC_URL,
        base_url=fake_twilio.base_url,
    )
    with pytest.raises(PermanentDeliveryError) as raised:
        await SmsChannel(wrong).send(message(PHONE))
    assert raised.value.provider_code == "20003"


async def test_twilio_unreachable_is_temporary_and_texts_flow_when_it_is_back(
    fake_twilio: FakeTwilio,
) -> None:
    channel = SmsChannel(account(fake_twilio))
    await fake_twilio.down()
    with pytest.raises(TemporaryDeliveryError, match="could not be reached"):
        await channel.send(message(PHONE))

    await fake_twilio.up()
    await channel.send(message(PHONE))
    assert len(fake_twilio.messages) == 1


async def test_twilio_silent_after_the_request_is_an_unknown_outcome_not_to_be_resent(
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.stall_next(0.3)
    short = dataclasses.replace(account(fake_twilio), timeout=0.1)
    with pytest.raises(UnknownDeliveryOutcome, match="did not answer") as raised:
        await SmsChannel(short).send(message(PHONE))

    # Twilio did create the message: a resend would text the recipient twice.
    assert len(fake_twilio.messages) == 1
    assert isinstance(raised.value, TemporaryDeliveryError)
    assert type(raised.value).__name__ == "UnknownDeliveryOutcome"


# --- webhook --------------------------------------------------------------------------------


def webhook(receiver: WebhookReceiver, timeout: float = 2.0) -> WebhookChannel:
    return WebhookChannel(url=receiver.url("/dispatch"), secret=SECRET, timeout=timeout)


async def test_webhook_posts_signed_json_with_the_idempotency_key(
    webhook_receiver: WebhookReceiver,
) -> None:
    before = int(time.time())
    receipt = await webhook(webhook_receiver).send(message(PHONE, key="k:hook"))

    [hook] = webhook_receiver.received
    assert hook.path == "/dispatch"
    assert hook.headers["Content-Type"] == "application/json"
    assert hook.headers["Idempotency-Key"] == "k:hook"
    signed = dict(part.split("=", 1) for part in hook.headers["X-CrisisDesk-Signature"].split(","))
    assert before <= int(signed["t"]) <= int(time.time())
    expected = hmac.new(
        SECRET.encode(), signed["t"].encode() + b"." + hook.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(signed["v1"], expected)
    assert hook.json() == {
        "idempotency_key": "k:hook",
        "incident_id": "inc-1",
        "recipient_id": "rec-1",
        "address": PHONE,
        "subject": "CrisisDesk: please call us",
        "body": BODY,
        "ack_url": ACK_URL,
    }
    assert receipt.status is DeliveryStatus.SENT


async def test_a_webhook_signed_with_another_secret_does_not_verify(
    webhook_receiver: WebhookReceiver,
) -> None:
    await WebhookChannel(url=webhook_receiver.url(), secret="another-secret").send(message(PHONE))
    [hook] = webhook_receiver.received
    signed = dict(part.split("=", 1) for part in hook.headers["X-CrisisDesk-Signature"].split(","))
    expected = hmac.new(
        SECRET.encode(), signed["t"].encode() + b"." + hook.body, hashlib.sha256
    ).hexdigest()
    assert not hmac.compare_digest(signed["v1"], expected)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TemporaryDeliveryError),
        (503, TemporaryDeliveryError),
        (429, TemporaryDeliveryError),
        (400, PermanentDeliveryError),
        (404, PermanentDeliveryError),
        (410, PermanentDeliveryError),
    ],
)
async def test_webhook_answers_sort_into_temporary_and_permanent(
    webhook_receiver: WebhookReceiver, status: int, error: type[Exception]
) -> None:
    webhook_receiver.answer_next(status)
    with pytest.raises(error, match=f"HTTP {status}"):
        await webhook(webhook_receiver).send(message(PHONE))


async def test_webhook_silence_and_no_listener_are_temporary(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.stall_next(0.3)
    with pytest.raises(TemporaryDeliveryError, match="in time"):
        await webhook(webhook_receiver, timeout=0.1).send(message(PHONE))

    await webhook_receiver.stop()
    with pytest.raises(TemporaryDeliveryError, match="could not be reached"):
        await webhook(webhook_receiver).send(message(PHONE))


# --- logs -----------------------------------------------------------------------------------


async def test_no_address_or_text_reaches_the_logs_on_success_or_failure(
    smtp_sink: SmtpSink,
    fake_twilio: FakeTwilio,
    webhook_receiver: WebhookReceiver,
    logs: CapturedLogs,
) -> None:
    channels: list[Any] = [
        email_channel(smtp_sink),
        SmsChannel(account(fake_twilio)),
        VoiceChannel(account(fake_twilio)),
        webhook(webhook_receiver),
        ConsoleChannel(),
    ]
    for channel in channels:
        address = EMAIL if channel.name == "email" else PHONE
        await channel.send(message(address))
    fake_twilio.fail_next(2, status=503)
    webhook_receiver.answer_next(400)
    smtp_sink.stop()
    reasons = []
    for channel in channels[:4]:
        with pytest.raises((TemporaryDeliveryError, PermanentDeliveryError)) as raised:
            await channel.send(message(EMAIL if channel.name == "email" else PHONE))
        reasons.append(str(raised.value))

    lines = logs.lines()
    assert sum("inc-1" in line for line in lines) >= len(channels), "each send is logged"
    assert_no_phi(*reasons, *lines)


# --- registry -------------------------------------------------------------------------------


def test_only_console_is_built_without_provider_settings() -> None:
    channels = channels_from_settings(Settings())
    assert set(channels) == {Channel.CONSOLE}
    assert isinstance(channels[Channel.CONSOLE], ConsoleChannel)


def test_each_configured_provider_is_built_and_named_for_its_channel() -> None:
    settings = Settings(
        smtp_host="127.0.0.1",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="token-1",
        twilio_from="+15005550006",
        dispatch_webhook_url="http://127.0.0.1:9/dispatch",
        webhook_secret=SECRET,
    )
    channels = channels_from_settings(settings)

    assert set(channels) == set(Channel)
    assert {channel: built.name for channel, built in channels.items()} == {
        channel: channel.value for channel in Channel
    }
    assert isinstance(channels[Channel.EMAIL], EmailChannel)
    assert isinstance(channels[Channel.SMS], SmsChannel)
    assert isinstance(channels[Channel.VOICE], VoiceChannel)
    assert isinstance(channels[Channel.WEBHOOK], WebhookChannel)


@pytest.mark.parametrize(
    "partial",
    [
        {"twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": "token-1"},
        {"twilio_account_sid": "AC" + "1" * 32, "twilio_from": "+15005550006"},
        {"dispatch_webhook_url": "http://127.0.0.1:9/dispatch"},
        {"webhook_secret": SECRET},
    ],
)
def test_a_provider_with_part_of_its_settings_is_left_out(partial: dict[str, str]) -> None:
    assert set(channels_from_settings(Settings(**partial))) == {Channel.CONSOLE}


async def test_registry_channels_reach_the_fakes_their_settings_name(
    smtp_sink: SmtpSink, fake_twilio: FakeTwilio
) -> None:
    settings = Settings(
        **smtp_sink.settings_fields(), **fake_twilio.settings_fields(), public_url=PUBLIC_URL
    )
    channels = channels_from_settings(settings)

    await channels[Channel.EMAIL].send(message(EMAIL))
    await channels[Channel.SMS].send(message(PHONE))
    await channels[Channel.VOICE].send(message(PHONE))
    assert len(smtp_sink.messages) == len(fake_twilio.messages) == len(fake_twilio.calls) == 1
    assert fake_twilio.messages[0].form["StatusCallback"].startswith(PUBLIC_URL)
