"""A signed webhook: the message as JSON, POSTed to a partner's URL (a dispatch service).

The receiver checks `X-CrisisDesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` with the shared secret (and may refuse an old `t`), and drops a repeated
`Idempotency-Key`. A 429 or 5xx answer, a timeout or no answer is temporary; any other 4xx is
permanent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog

from activities.channels.base import (
    DeliveryReceipt,
    OutboundMessage,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from domain.vocabulary import Channel, DeliveryStatus
from infra.signatures import SIGNATURE_HEADER, sign

IDEMPOTENCY_HEADER = "Idempotency-Key"

log = structlog.get_logger("crisisdesk.channels.webhook")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for `body` sent at `timestamp`."""
    return sign(secret, timestamp, body)


class WebhookChannel:
    name = Channel.WEBHOOK.value

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._clock = clock

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        payload = {
            "idempotency_key": message.idempotency_key,
            "incident_id": message.incident_id,
            "recipient_id": message.recipient_id,
            "address": message.address,
            "subject": message.subject,
            "body": message.body,
            "ack_url": message.ack_url,
        }
        return await self.post(
            payload, idempotency_key=message.idempotency_key, incident_id=message.incident_id
        )

    async def post(
        self, payload: dict[str, Any], *, idempotency_key: str, incident_id: str
    ) -> DeliveryReceipt:
        """POST any JSON payload, signed (dispatch packets use this too)."""
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: idempotency_key,
            SIGNATURE_HEADER: signature(self._secret, int(self._clock()), body),
        }
        bound = log.bind(incident_id=incident_id, idempotency_key=idempotency_key)
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                answer = await http.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            bound.warning("webhook.timeout")
            raise TemporaryDeliveryError("webhook: the receiver did not answer in time") from None
        except httpx.TransportError as error:
            bound.warning("webhook.unreachable", error_type=type(error).__name__)
            raise TemporaryDeliveryError("webhook: the receiver could not be reached") from None
        if answer.is_success:
            bound.info("webhook.sent", http_status=answer.status_code)
            return DeliveryReceipt(
                status=DeliveryStatus.SENT, provider_ref=answer.headers.get("X-Request-Id")
            )
        bound.warning("webhook.refused", http_status=answer.status_code)
        reason = f"webhook: the receiver answered HTTP {answer.status_code}"
        code = str(answer.status_code)
        if answer.status_code == 429 or answer.status_code >= 500:
            raise TemporaryDeliveryError(reason, provider_code=code)
        raise PermanentDeliveryError(reason, provider_code=code)
