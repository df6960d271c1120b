"""Delivery channels behind one narrow interface. `console` logs (without PHI) and is the default
of the embedded stack; SMTP, Twilio and webhook channels plug in behind the same interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog

from domain.vocabulary import DeliveryStatus

log = structlog.get_logger("crisisdesk.channels")


@dataclass(frozen=True)
class OutboundMessage:
    idempotency_key: str
    incident_id: str
    recipient_id: str
    address: str | None
    subject: str
    body: str


@dataclass(frozen=True)
class DeliveryReceipt:
    status: DeliveryStatus
    provider_ref: str | None = None
    error: str | None = None
    permanent: bool = False


class DeliveryChannel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> DeliveryReceipt: ...


class ConsoleChannel:
    """Writes a line per message to the log: ids only, never the address or the text."""

    name = "console"

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        log.warning(
            "page.console",
            incident_id=message.incident_id,
            recipient_id=message.recipient_id,
            idempotency_key=message.idempotency_key,
        )
        return DeliveryReceipt(status=DeliveryStatus.SENT, provider_ref=message.idempotency_key)
