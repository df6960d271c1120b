"""Delivery channels behind one narrow interface (`DeliveryChannel`): email over SMTP, SMS and
voice through Twilio, a signed webhook, and `console`, which logs ids only and is the default of
the embedded stack. `channels_from_settings` builds the ones this process is configured for."""

from activities.channels.base import (
    ConsoleChannel,
    DeliveryChannel,
    DeliveryError,
    DeliveryReceipt,
    OutboundMessage,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UnknownDeliveryOutcome,
)
from activities.channels.registry import channels_from_settings
from activities.channels.smtp import EmailChannel
from activities.channels.twilio import SmsChannel, TwilioAccount, VoiceChannel
from activities.channels.webhook import WebhookChannel

__all__ = [
    "ConsoleChannel",
    "DeliveryChannel",
    "DeliveryError",
    "DeliveryReceipt",
    "EmailChannel",
    "OutboundMessage",
    "PermanentDeliveryError",
    "SmsChannel",
    "TemporaryDeliveryError",
    "TwilioAccount",
    "UnknownDeliveryOutcome",
    "VoiceChannel",
    "WebhookChannel",
    "channels_from_settings",
]
