"""Email over SMTP (aiosmtplib): one message per send, to the relay in settings.

SMTP answers say which failures are worth a retry: 4xx replies and a relay that cannot be
reached are temporary; 5xx replies (a refused recipient, a rejected sender) are permanent.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import aiosmtplib
import structlog

from activities.channels.base import (
    DeliveryReceipt,
    OutboundMessage,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    require_address,
    text_with_ack_link,
)
from domain.vocabulary import Channel, DeliveryStatus

IDEMPOTENCY_HEADER = "X-CrisisDesk-Idempotency-Key"

log = structlog.get_logger("crisisdesk.channels.email")


def message_id_for(idempotency_key: str, sender: str) -> str:
    """A Message-ID that is the same on every retry of one send, so a receiving system can
    recognise a duplicate; hashed because the key's characters are not all valid there."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "crisisdesk.invalid"
    return f"<{digest}@{domain}>"


class EmailChannel:
    name = Channel.EMAIL.value

    def __init__(self, *, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = require_address(self.name, message)
        email["Subject"] = message.subject
        email["Message-ID"] = message_id_for(message.idempotency_key, self._sender)
        email[IDEMPOTENCY_HEADER] = message.idempotency_key
        email.set_content(text_with_ack_link(message))
        bound = log.bind(incident_id=message.incident_id, idempotency_key=message.idempotency_key)
        try:
            await aiosmtplib.send(
                email, hostname=self._host, port=self._port, timeout=self._timeout
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            # One recipient per message, so its refusal is the whole answer.
            code = error.recipients[0].code if error.recipients else 550
            raise _classified(code, "the relay refused the recipient", bound) from None
        except aiosmtplib.SMTPResponseException as error:
            raise _classified(error.code, "the relay refused the message", bound) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            bound.warning("email.unreachable", error_type=type(error).__name__)
            raise TemporaryDeliveryError("email: the SMTP relay could not be reached") from None
        bound.info("email.sent")
        return DeliveryReceipt(status=DeliveryStatus.SENT, provider_ref=email["Message-ID"])


def _classified(
    code: int, what: str, bound: structlog.typing.FilteringBoundLogger
) -> TemporaryDeliveryError | PermanentDeliveryError:
    bound.warning("email.refused", smtp_code=code)
    reason = f"email: {what} (SMTP {code})"
    if 400 <= code < 500:
        return TemporaryDeliveryError(reason, provider_code=str(code))
    return PermanentDeliveryError(reason, provider_code=str(code))
