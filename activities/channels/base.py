"""The narrow interface every delivery channel sits behind, the two ways a send can fail, and the
`console` channel (the default of the embedded stack).

A channel accepts a message or raises: `TemporaryDeliveryError` when trying again later may
succeed (the activity retries with backoff), `PermanentDeliveryError` when it never will (the
ladder moves on at once), `UnknownDeliveryOutcome` (a temporary error) when the provider got the
request and went silent. The workflow matches these class names in its retry policy. Every
reason is PHI-free by construction: it names the channel and a provider code, never an address
or the text, because it is stored in the attempt and in workflow history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog

from domain.vocabulary import Channel, DeliveryStatus

log = structlog.get_logger("crisisdesk.channels")


@dataclass(frozen=True)
class OutboundMessage:
    """One message to one recipient. The caller composes `subject` and `body` (never a diagnosis);
    a channel places `ack_url` as its medium allows (a link in text, a key press on a call)."""

    idempotency_key: str
    incident_id: str
    recipient_id: str
    address: str | None
    subject: str
    body: str
    ack_url: str | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    """The provider accepted the message: `SENT` (handed on) or `QUEUED` (its status follows)."""

    status: DeliveryStatus
    provider_ref: str | None = None


class DeliveryChannel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> DeliveryReceipt: ...


class DeliveryError(Exception):
    """A send that the provider did not accept. `str(error)` is the PHI-free reason."""

    def __init__(self, reason: str, *, provider_code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider_code = provider_code


class TemporaryDeliveryError(DeliveryError):
    """The provider may accept the same message later: network down, timeout, 4xx SMTP, 429/5xx."""


class UnknownDeliveryOutcome(TemporaryDeliveryError):  # noqa: N818 (the retry policy names it)
    """The request reached the provider but no answer came back: it may have been delivered.
    Named as the ladder's retry policy names what it must not retry, since the provider has no
    idempotency of its own and a retry could text a family member twice."""


class PermanentDeliveryError(DeliveryError):
    """The provider will never accept this message: bad address, refused recipient, bad request."""


def require_address(channel: str, message: OutboundMessage) -> str:
    """The recipient's address; a message without one can never be delivered on `channel`."""
    if not message.address:
        raise PermanentDeliveryError(f"{channel}: no address for the recipient")
    return message.address


def text_with_ack_link(message: OutboundMessage) -> str:
    """The body, then the acknowledgement link on a line of its own (for text media)."""
    if message.ack_url is None:
        return message.body
    return f"{message.body}\n\nAcknowledge: {message.ack_url}"


class ConsoleChannel:
    """Writes a line per message to the log: ids only, never the address or the text."""

    name = Channel.CONSOLE.value

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        log.warning(
            "page.console",
            incident_id=message.incident_id,
            recipient_id=message.recipient_id,
            idempotency_key=message.idempotency_key,
        )
        return DeliveryReceipt(status=DeliveryStatus.SENT, provider_ref=message.idempotency_key)
