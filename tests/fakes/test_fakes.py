"""The fakes behave as the vendors they stand for, where other tests rely on it."""

from __future__ import annotations

from urllib.parse import unquote_plus

import aiosmtplib
import pytest
from twilio.request_validator import RequestValidator

from activities.channels import (
    OutboundMessage,
    PermanentDeliveryError,
    SmsChannel,
    TemporaryDeliveryError,
    TwilioAccount,
    VoiceChannel,
)
from tests.fakes import smtp as smtp_fakes
from tests.fakes import twilio as twilio_fakes
from tests.fakes import webhook as webhook_fakes
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import FakeTwilio
from tests.fakes.webhook import WebhookReceiver

smtp_sink = smtp_fakes.smtp_sink
fake_twilio = twilio_fakes.fake_twilio
webhook_receiver = webhook_fakes.webhook_receiver


def account(fake: FakeTwilio, public_url: str) -> TwilioAccount:
    return TwilioAccount(
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        from_number=fake.from_number,
        public_url=public_url,
        base_url=fake.base_url,
    )


def outbound(key: str) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        incident_id="inc-1",
        recipient_id="rec-1",
        address="+15035550123",
        subject="s",
        body="b",
    )


async def test_smtp_sink_comes_back_on_the_same_port(smtp_sink: SmtpSink) -> None:
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(
            "Subject: x\n\nx",
            sender="a@b.test",
            recipients=["c@d.test"],
            hostname="127.0.0.1",
            port=port,
            timeout=2,
        )
    smtp_sink.start()
    await aiosmtplib.send(
        "Subject: x\n\nx",
        sender="a@b.test",
        recipients=["c@d.test"],
        hostname="127.0.0.1",
        port=port,
        timeout=2,
    )
    assert smtp_sink.port == port
    assert [m["Subject"] for m in smtp_sink.messages] == ["x"]


@pytest.mark.parametrize(
    ("kind", "status_field"), [("sms", "MessageStatus"), ("voice", "CallStatus")]
)
async def test_status_callback_is_signed_as_twilio_signs_it_and_names_the_attempt(
    fake_twilio: FakeTwilio, webhook_receiver: WebhookReceiver, kind: str, status_field: str
) -> None:
    public_url = webhook_receiver.url("").rstrip("/")
    channel_type = SmsChannel if kind == "sms" else VoiceChannel
    await channel_type(account(fake_twilio, public_url)).send(outbound("k:1"))
    [sent] = fake_twilio.messages or fake_twilio.calls

    answer = await fake_twilio.send_status(sent, "delivered" if kind == "sms" else "completed")

    assert answer.status_code == 200
    [callback] = webhook_receiver.received
    assert callback.path == "/v1/callbacks/twilio/status"
    params = dict(pair.split("=", 1) for pair in callback.body.decode().split("&"))
    assert params[status_field] in {"delivered", "completed"}
    assert sent.sid in params.values()
    url = webhook_receiver.url("/v1/callbacks/twilio/status?key=k%3A1")
    decoded = {k: unquote_plus(v) for k, v in params.items()}
    validator = RequestValidator(fake_twilio.auth_token)
    assert validator.validate(url, decoded, callback.headers["X-Twilio-Signature"])
    assert not RequestValidator("another-token").validate(
        url, decoded, callback.headers["X-Twilio-Signature"]
    )


async def test_fake_twilio_fails_exactly_the_requests_it_was_told_to(
    fake_twilio: FakeTwilio,
) -> None:
    channel = SmsChannel(account(fake_twilio, "https://crisisdesk.test"))
    fake_twilio.fail_next(2, status=503)
    for _ in range(2):
        with pytest.raises(TemporaryDeliveryError):
            await channel.send(outbound("k:2"))
    receipt = await channel.send(outbound("k:2"))

    assert len(fake_twilio.requests) == 3
    assert [m.sid for m in fake_twilio.messages] == [receipt.provider_ref]


async def test_fake_twilio_refuse_all_refuses_every_number_and_keeps_each_request(
    fake_twilio: FakeTwilio,
) -> None:
    account_ = account(fake_twilio, "https://crisisdesk.test")
    fake_twilio.refuse_all(21211)
    for channel in (SmsChannel(account_), VoiceChannel(account_)):
        with pytest.raises(PermanentDeliveryError) as refused:
            await channel.send(outbound("k:3"))
        assert refused.value.provider_code == "21211"

    assert len(fake_twilio.requests) == 2
    assert fake_twilio.messages == fake_twilio.calls == []


async def test_smtp_sink_refuse_all_bounces_every_address_and_counts_it(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.refuse_all(550)
    for address in ("a@example.org", "B@example.org"):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(
                "Subject: x\n\nx",
                sender="pages@crisisdesk.test",
                recipients=[address],
                hostname="127.0.0.1",
                port=smtp_sink.port,
                timeout=2,
            )
        assert refused.value.recipients[0].code == 550

    assert smtp_sink.refusals == ["a@example.org", "b@example.org"]
    assert smtp_sink.messages == []
