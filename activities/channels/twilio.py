"""SMS and voice through the official Twilio SDK.

The SDK builds every request (URLs, form parameters, basic auth, error parsing); the network
boundary is `TwilioTransport`, the SDK's async HTTP-client interface implemented over httpx. It
sends what the SDK asks to `settings.twilio_base_url` instead of `https://api.twilio.com` when
that is set, so tests talk to a local server that answers as Twilio does. It replaces the SDK's
own `AsyncTwilioHttpClient`, which ignores its client-wide timeout (a silent Twilio would hang a
send until the activity times out) and needs a running event loop to be built; running the sync
client in a thread would work but hold a thread per send for nothing.

Twilio's answers say which failures are worth a retry: 429, 5xx and a Twilio that cannot be
reached are temporary; other 4xx are permanent (21211 an invalid number, 21610 an unsubscribed
recipient). Twilio has no idempotency for creating messages or calls, so a request that got no
answer is `UnknownDeliveryOutcome`: resending it could text a family member twice. The key rides
on the status callback URL instead: the callback names the attempt it reports on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx
import structlog
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallInstance
from twilio.rest.api.v2010.account.message import MessageInstance
from twilio.twiml.voice_response import VoiceResponse

from activities.channels.base import (
    DeliveryReceipt,
    OutboundMessage,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UnknownDeliveryOutcome,
    require_address,
    text_with_ack_link,
)
from domain.vocabulary import Channel, DeliveryStatus

STATUS_CALLBACK_PATH = "/v1/callbacks/twilio/status"
VOICE_ACK_PATH = "/v1/callbacks/twilio/voice"
# The query parameter of both callbacks that carries the attempt's idempotency key.
CALLBACK_KEY_PARAM = "key"
ACK_DIGIT = "1"

log = structlog.get_logger("crisisdesk.channels.twilio")


@dataclass(frozen=True)
class TwilioAccount:
    """What both Twilio channels need: credentials, the sending number, where callbacks go."""

    account_sid: str
    auth_token: str
    from_number: str
    public_url: str
    base_url: str | None = None
    timeout: float = 10.0

    def callback_url(self, path: str, idempotency_key: str) -> str:
        query = urlencode({CALLBACK_KEY_PARAM: idempotency_key})
        return f"{self.public_url.rstrip('/')}{path}?{query}"

    def client(self) -> Client:
        transport = TwilioTransport(base_url=self.base_url, timeout=self.timeout)
        return Client(self.account_sid, self.auth_token, http_client=transport)


class TwilioTransport(AsyncHttpClient):
    """The SDK's HTTP client over httpx, optionally aimed at another base URL."""

    def __init__(self, *, base_url: str | None, timeout: float) -> None:
        # The logger is the SDK's; its request logging is never called here (we log ids only).
        super().__init__(logging.getLogger("twilio.http_client"), True, timeout)
        self._base_url = base_url.rstrip("/") if base_url else None

    def _target(self, url: str) -> str:
        parts = urlsplit(url)
        if self._base_url is None or not parts.netloc.endswith("twilio.com"):
            return url
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"{self._base_url}{rest}"

    # The SDK declares the async client's `request` over the sync one's: not ours to fix.
    async def request(  # type: ignore[override]
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the SDK passes it)
        allow_redirects: bool = False,
    ) -> Response:
        async with httpx.AsyncClient(
            timeout=timeout or self.timeout, follow_redirects=allow_redirects
        ) as http:
            answer = await http.request(
                method,
                self._target(uri),
                params=_flat(params),
                data=_flat(data),
                headers=headers,
                auth=auth,
            )
        return Response(answer.status_code, answer.text, answer.headers)


def _flat(values: dict[str, object] | None) -> dict[str, str | list[str]] | None:
    """The SDK's parameters as httpx sends forms: repeated keys as lists, everything text."""
    if values is None:
        return None
    return {
        key: [str(v) for v in value] if isinstance(value, list) else str(value)
        for key, value in values.items()
    }


class SmsChannel:
    name = Channel.SMS.value

    def __init__(self, account: TwilioAccount) -> None:
        self._account = account
        self._client = account.client()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        creating = self._client.messages.create_async(
            to=require_address(self.name, message),
            from_=self._account.from_number,
            body=text_with_ack_link(message),
            status_callback=self._account.callback_url(
                STATUS_CALLBACK_PATH, message.idempotency_key
            ),
        )
        return await _queued(self.name, message, creating)


class VoiceChannel:
    """A call that reads the body twice and takes one key press as the acknowledgement."""

    name = Channel.VOICE.value

    def __init__(self, account: TwilioAccount) -> None:
        self._account = account
        self._client = account.client()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        creating = self._client.calls.create_async(
            to=require_address(self.name, message),
            from_=self._account.from_number,
            twiml=self.twiml(message),
            status_callback=self._account.callback_url(
                STATUS_CALLBACK_PATH, message.idempotency_key
            ),
        )
        return await _queued(self.name, message, creating)

    def twiml(self, message: OutboundMessage) -> str:
        response = VoiceResponse()
        gather = response.gather(
            num_digits=1,
            method="POST",
            action=self._account.callback_url(VOICE_ACK_PATH, message.idempotency_key),
        )
        gather.say(f"{message.body} Press {ACK_DIGIT} to acknowledge.", loop=2)
        return str(response)


async def _queued(
    channel: str, message: OutboundMessage, creating: Awaitable[MessageInstance | CallInstance]
) -> DeliveryReceipt:
    """Await the SDK's create call and translate its failure into a delivery error."""
    bound = log.bind(
        incident_id=message.incident_id, idempotency_key=message.idempotency_key, channel=channel
    )
    try:
        created = await creating
    except (TwilioRestException, TwilioServiceException) as error:
        failure = _classified(channel, error.status, error.code)
        bound.warning("twilio.refused", http_status=error.status, provider_code=error.code)
        raise failure from None
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        bound.warning("twilio.unreachable", error_type=type(error).__name__)
        raise TemporaryDeliveryError(f"{channel}: Twilio could not be reached") from None
    except httpx.TransportError as error:
        # The request went out; whether Twilio created the message or call is unknown.
        bound.warning("twilio.no_answer", error_type=type(error).__name__)
        raise UnknownDeliveryOutcome(f"{channel}: Twilio did not answer the request") from None
    bound.info("twilio.queued", provider_ref=created.sid)
    return DeliveryReceipt(status=DeliveryStatus.QUEUED, provider_ref=created.sid)


def _classified(
    channel: str, status: int, code: int | None
) -> TemporaryDeliveryError | PermanentDeliveryError:
    reason = f"{channel}: Twilio refused the request (HTTP {status}, code {code})"
    provider_code = None if code is None else str(code)
    if status == 429 or status >= 500:
        return TemporaryDeliveryError(reason, provider_code=provider_code)
    return PermanentDeliveryError(reason, provider_code=provider_code)
