"""Which channels this process can deliver on: each one whose settings are present, and
`console` always. A channel left out is reported by the caller as not configured."""

from __future__ import annotations

from activities.channels.base import ConsoleChannel, DeliveryChannel
from activities.channels.smtp import EmailChannel
from activities.channels.twilio import SmsChannel, TwilioAccount, VoiceChannel
from activities.channels.webhook import WebhookChannel
from domain.vocabulary import Channel
from infra.settings import Settings


def channels_from_settings(settings: Settings) -> dict[Channel, DeliveryChannel]:
    channels: dict[Channel, DeliveryChannel] = {Channel.CONSOLE: ConsoleChannel()}
    if settings.smtp_host:
        channels[Channel.EMAIL] = EmailChannel(
            host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from
        )
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        account = TwilioAccount(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from,
            public_url=settings.public_url,
            base_url=settings.twilio_base_url,
        )
        channels[Channel.SMS] = SmsChannel(account)
        channels[Channel.VOICE] = VoiceChannel(account)
    if settings.dispatch_webhook_url and settings.webhook_secret:
        channels[Channel.WEBHOOK] = WebhookChannel(
            url=settings.dispatch_webhook_url, secret=settings.webhook_secret
        )
    return channels
