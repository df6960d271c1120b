"""Acknowledgements from the people CrisisDesk reached: a signed link, or an SMS reply."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from twilio.request_validator import RequestValidator

from api.ack_page import PAGE_HEADERS, PAGE_HEADERS_DOCUMENTED, acknowledged_page, confirmation_page
from api.deps import RuntimeDep, SessionDep, TemporalDep
from api.problems import Problem
from api.runtime import Runtime
from domain.models import Client as ClientRecord
from domain.models import EmergencyContact, Notification
from domain.notification import Acknowledgement, acknowledgement_for
from domain.vocabulary import Channel, DeliveryStatus
from infra.ack_tokens import AckClaim, AckTokenError, read_ack_token
from infra.records import notification_by_key
from workflows.incident import IncidentWorkflow

router = APIRouter(prefix="/v1", tags=["acknowledgements"])

SMS_ACK_WORDS = frozenset({"yes", "y", "ok", "okay", "got it", "1"})
SMS_REPLY_WINDOW = timedelta(hours=24)
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
THANK_YOU = "Thank you. The care team knows you got this."
_REFUSED_LINK = "the link is forged, malformed or expired"


async def _signal_ack(temporal: Client, incident_id: uuid.UUID, ack: Acknowledgement) -> bool:
    """Tell the incident; False when it has ended, and nobody waits for the acknowledgement."""
    handle = temporal.get_workflow_handle_for(IncidentWorkflow.run, f"incident-{incident_id}")
    try:
        await handle.signal(IncidentWorkflow.contact_acknowledged, ack)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _claim_of(runtime: Runtime, token: str) -> AckClaim:
    try:
        return read_ack_token(runtime.ack_secret, token)
    except AckTokenError as error:
        raise Problem(403, "Forbidden", str(error)) from None


def _sent_from_a_form(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type in FORM_MEDIA_TYPES


async def _no_fields(request: Request) -> None:
    """The button's JSON body is none or `{}`: an unknown field is 422, as everywhere."""
    body = (await request.body()).strip()
    if not body:
        return
    try:
        sent = json.loads(body)
    except ValueError:
        raise Problem(422, "Unprocessable content", "body: not JSON", field="body") from None
    if not isinstance(sent, dict):
        raise Problem(422, "Unprocessable content", "body: must be an object", field="body")
    if sent:
        field = str(next(iter(sent)))
        raise Problem(
            422,
            "Unprocessable content",
            f"{field}: Extra inputs are not permitted",
            errors=[{"field": field, "message": "Extra inputs are not permitted"}],
        )


class AckAnswer(BaseModel):
    status: Literal["acknowledged"]
    message: str


@router.get(
    "/acks/{token}",
    response_class=HTMLResponse,
    responses={
        200: {"description": "a page whose button confirms", "headers": PAGE_HEADERS_DOCUMENTED},
        403: {"description": _REFUSED_LINK},
    },
)
async def ack_confirmation_page(token: str, runtime: RuntimeDep) -> HTMLResponse:
    """The page an acknowledgement link opens: it asks to confirm, and records nothing.

    Mail scanners and link previewers open links; only the page's button, a POST to the same
    URL, acknowledges. No bearer token: the signed, expiring link is the credential.
    """
    _claim_of(runtime, token)
    return confirmation_page()


@router.post(
    "/acks/{token}",
    response_model=AckAnswer,
    responses={
        200: {
            "description": "acknowledged: JSON, or a thank-you page for the link's form",
            "content": {"text/html": {"schema": {"type": "string"}}},
            "headers": PAGE_HEADERS_DOCUMENTED,
        },
        403: {"description": _REFUSED_LINK},
        409: {"description": "the incident has ended: no acknowledgement is needed"},
    },
    openapi_extra={
        "requestBody": {
            "required": False,
            "description": (
                "ignored: none or `{}`. The link's page posts an empty "
                "`application/x-www-form-urlencoded` form and is answered `text/html`."
            ),
            "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": False}}
            },
        }
    },
)
async def acknowledge(
    token: str, request: Request, response: Response, runtime: RuntimeDep, temporal: TemporalDep
) -> AckAnswer | HTMLResponse:
    """A contact (or the client) confirms they got the message; the ladder for them stops.

    No bearer token: the signed, expiring link is the credential. The link's form gets a
    thank-you page; any other caller gets JSON.
    """
    claim = _claim_of(runtime, token)
    if not _sent_from_a_form(request):
        await _no_fields(request)
    acknowledged = await _signal_ack(
        temporal,
        claim.incident_id,
        Acknowledgement(
            ladder_id=claim.ladder_id,
            recipient_id=claim.recipient_id,
            via=f"link:{claim.channel}",
            at=datetime.now(UTC),
        ),
    )
    if not acknowledged:
        raise Problem(409, "Conflict", "the incident has ended: no acknowledgement is needed")
    if _sent_from_a_form(request):
        return acknowledged_page()
    response.headers.update(PAGE_HEADERS)
    return AckAnswer(status="acknowledged", message=THANK_YOU)


async def _twilio_form(request: Request, runtime: Runtime) -> dict[str, str]:
    """The form Twilio posted, once its signature for our auth token is checked."""
    settings = runtime.settings
    if not settings.twilio_auth_token:
        raise Problem(404, "Not found", "Twilio is not configured")
    try:
        text = (await request.body()).decode()
    except UnicodeDecodeError:
        raise Problem(400, "Bad request", "the body is not UTF-8") from None
    # Blank values are kept: Twilio signs every parameter it sends, `Body=` too.
    form = dict(parse_qsl(text, keep_blank_values=True))
    url = f"{settings.public_url.rstrip('/')}{request.url.path}"
    if request.url.query:
        url = f"{url}?{request.url.query}"
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        raise Problem(403, "Forbidden", "the request signature is not valid")
    return form


def _ack_of(notification: Notification, via: str) -> Acknowledgement:
    return acknowledgement_for(notification.idempotency_key, via, datetime.now(UTC))


_TWILIO_DELIVERY = {
    "delivered": DeliveryStatus.DELIVERED,
    "completed": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.FAILED,
    "busy": DeliveryStatus.FAILED,
    "no-answer": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


@router.post("/callbacks/twilio/status", include_in_schema=False)
async def twilio_status(
    request: Request, runtime: RuntimeDep, session: SessionDep, key: str = ""
) -> Response:
    """Twilio's delivery status for a text or a call: tracked on the attempt it belongs to."""
    form = await _twilio_form(request, runtime)
    status = _TWILIO_DELIVERY.get(form.get("MessageStatus") or form.get("CallStatus") or "")
    attempt = await notification_by_key(session, key=key)
    if status is not None and attempt is not None and attempt.status != DeliveryStatus.ACKNOWLEDGED:
        attempt.status = status
        attempt.updated_at = datetime.now(UTC)
        await session.commit()
    return Response(status_code=204)


@router.post("/callbacks/twilio/voice", include_in_schema=False)
async def twilio_voice_keypress(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    temporal: TemporalDep,
    key: str = "",
) -> Response:
    """The person called pressed 1: they heard the message."""
    form = await _twilio_form(request, runtime)
    attempt = await notification_by_key(session, key=key)
    if form.get("Digits") == "1" and attempt is not None and attempt.purpose == "page":
        # A paged staff member heard it: the page is acknowledged (it belongs to no ladder).
        attempt.status = DeliveryStatus.ACKNOWLEDGED
        attempt.updated_at = datetime.now(UTC)
        await session.commit()
        return Response(
            "<Response><Say>Thank you. The page is acknowledged.</Say></Response>",
            media_type="application/xml",
        )
    if (
        form.get("Digits") == "1"
        and attempt is not None
        and await _signal_ack(temporal, attempt.incident_id, _ack_of(attempt, "voice_keypress"))
    ):
        return Response(
            "<Response><Say>Thank you. The care team has been told.</Say></Response>",
            media_type="application/xml",
        )
    return Response("<Response/>", media_type="application/xml")


@router.post("/callbacks/twilio/sms", include_in_schema=False)
async def sms_reply(
    request: Request, runtime: RuntimeDep, session: SessionDep, temporal: TemporalDep
) -> Response:
    """Twilio's inbound-SMS webhook: a reply of YES acknowledges the latest message sent to
    that number. The request must carry Twilio's signature for our auth token."""
    form = await _twilio_form(request, runtime)
    empty = Response("<Response/>", media_type="application/xml")
    if form.get("Body", "").strip().lower() not in SMS_ACK_WORDS:
        return empty
    sender = form.get("From", "")
    recipients = [
        str(r)
        for r in (
            await session.exec(select(EmergencyContact.id).where(EmergencyContact.phone == sender))
        ).all()
    ] + [
        str(r)
        for r in (
            await session.exec(select(ClientRecord.id).where(ClientRecord.phone == sender))
        ).all()
    ]
    if not recipients:
        return empty
    latest = (
        await session.exec(
            select(Notification)
            .where(col(Notification.recipient_id).in_(recipients))
            .where(Notification.channel == Channel.SMS)
            .where(col(Notification.status) != DeliveryStatus.FAILED)
            .where(Notification.created_at >= datetime.now(UTC) - SMS_REPLY_WINDOW)
            .order_by(col(Notification.created_at).desc())
            .limit(1)
        )
    ).first()
    if latest is None:
        return empty
    await _signal_ack(temporal, latest.incident_id, _ack_of(latest, "sms_reply"))
    return empty
