"""Paging staff: every recipient of a target on each of their channels (text, call, email);
when nobody of a target takes the page, the next target at once (the program's supervisors, its
admins) and last the console, which always takes it. A failed send is never retried: a page must
not wait. Each attempt is written (`queued`) before its provider is called, keyed by (incident,
page, staff member, channel), so a retried activity never pages anyone twice on one channel."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.channels import (
    ConsoleChannel,
    DeliveryChannel,
    DeliveryError,
    OutboundMessage,
    PermanentDeliveryError,
    UnknownDeliveryOutcome,
)
from domain.audit import AuditEntry
from domain.effects import ADMINS_TARGET, CONSOLE_TARGET, PageRequest, PageResult, Unreachable
from domain.incident import PageOrder, PageTarget
from domain.models import Notification, Staff
from domain.vocabulary import Channel, DeliveryStatus, Role
from infra.audit_log import append_in
from infra.db import transaction
from infra.oncall import on_call_staff
from infra.records import notification_by_key

log = structlog.get_logger("crisisdesk.paging")

_IN_TARGET: dict[str, Callable[[Staff, PageOrder], bool]] = {
    PageTarget.STAFF: lambda staff, order: staff.id == order.staff_id,
    PageTarget.FOLLOWUP_QUEUE: lambda staff, _: staff.role == Role.FOLLOWUP,
    PageTarget.ALL_SUPERVISORS: lambda staff, _: staff.role == Role.SUPERVISOR,
    ADMINS_TARGET: lambda staff, _: staff.role == Role.ADMIN,
}


@dataclass(frozen=True)
class _Attempt:
    """One send of a page to one recipient (a staff id, or the console) on one channel."""

    request: PageRequest
    target: str
    recipient_id: str
    channel: str

    @property
    def key(self) -> str:
        incident, page = self.request.incident_id, self.request.order.page_id
        return f"page:{incident}:{page}:{self.recipient_id}:{self.channel}"

    def message(self, address: str | None) -> OutboundMessage:
        return OutboundMessage(
            idempotency_key=self.key,
            incident_id=str(self.request.incident_id),
            recipient_id=self.recipient_id,
            address=address,
            subject="CrisisDesk page",
            # An incident id and the reason: the details are behind a staff login.
            body=f"CrisisDesk incident {self.request.incident_id}: {self.request.order.reason}"
            if self.request.about == "incident"
            else f"CrisisDesk: {self.request.order.reason}",
        )


@dataclass
class _Page:
    """One run of a page: the request, and what came of it so far."""

    request: PageRequest
    recipients: list[str] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    unreachable: list[Unreachable] = field(default_factory=list)
    tried: set[UUID] = field(default_factory=set)

    def miss(self, target: str, reason: str, recipient: str | None, channel: str | None) -> None:
        entry = Unreachable(recipient_id=recipient, target=target, channel=channel, reason=reason)
        self.unreachable.append(entry)
        incident_id = str(self.request.incident_id)
        log.warning("page.unreachable", incident_id=incident_id, **entry.model_dump())

    def result(self, target: str) -> PageResult:
        return PageResult(
            recipients=self.recipients,
            channel=",".join(sorted(self.channels)) or "none",
            delivered=True,
            unreachable=self.unreachable,
            reached_target=target,
        )


class PagingActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[Channel, DeliveryChannel],
    ) -> None:
        self._sessions = sessions
        self._channels = channels

    @activity.defn(name="page_staff")
    async def page_staff(self, request: PageRequest) -> PageResult:
        """Page the order's target, then each fallback in turn, until someone takes the page."""
        staff = await self._active_staff(request)
        on_call = await self._on_call_supervisors(request)
        page = _Page(request)
        chain = [request.order.target.value, PageTarget.ALL_SUPERVISORS.value, ADMINS_TARGET]
        for target in dict.fromkeys(chain):  # each target once, in order; the console follows
            if target == PageTarget.ON_CALL_SUPERVISOR:
                members = on_call
            else:
                members = [s for s in staff if _IN_TARGET[target](s, request.order)]
            if not members:
                page.miss(target, "nobody active in this target", None, None)
            reached = False
            for member in (m for m in members if m.id not in page.tried):
                reached = await self._page_person(page, target, member) or reached
            if reached:
                return page.result(target)
        await self._page_console(page)
        return page.result(CONSOLE_TARGET)

    async def _page_person(self, page: _Page, target: str, member: Staff) -> bool:
        """The member's channels in turn until one accepts the page."""
        page.tried.add(member.id)
        routes = _routes(member)
        if not routes:
            page.miss(target, "no phone or email on file", str(member.id), None)
        for channel, address in routes:
            attempt = _Attempt(page.request, target, str(member.id), channel)
            failure = await self._send_once(attempt, address)
            if failure is None:
                page.recipients.append(str(member.id))
                page.channels.add(channel)
                return True
            page.miss(target, failure, str(member.id), channel)
        return False

    async def _page_console(self, page: _Page) -> None:
        """The last target: it logs the page, and the incident shows it to the supervisors."""
        attempt = _Attempt(page.request, CONSOLE_TARGET, CONSOLE_TARGET, Channel.CONSOLE)
        if await self._recorded(attempt.key) is None:
            console = self._channels.get(Channel.CONSOLE) or ConsoleChannel()
            receipt = await console.send(attempt.message(None))
            await self._record(attempt, DeliveryStatus.SENT, receipt.provider_ref)
        page.channels.add(CONSOLE_TARGET)

    async def _send_once(self, attempt: _Attempt, address: str) -> str | None:
        """Send on one channel at most once: None when accepted, else the PHI-free reason."""
        provider = self._channels.get(Channel(attempt.channel))
        if provider is None:
            return f"the {attempt.channel} channel is not configured"
        recorded = await self._recorded(attempt.key)
        if recorded is not None:
            return await self._earlier(attempt, recorded)
        await self._record(attempt, DeliveryStatus.QUEUED)
        try:
            receipt = await provider.send(attempt.message(address))
        except DeliveryError as error:
            reason = _reason(error)
            await self._record(attempt, DeliveryStatus.FAILED, error=reason)
            return reason
        await self._record(attempt, receipt.status, receipt.provider_ref)
        return None

    async def _earlier(self, attempt: _Attempt, recorded: Notification) -> str | None:
        """What an earlier try of this activity made of the attempt; never a second send."""
        if recorded.status == DeliveryStatus.FAILED:
            return recorded.error or "the provider reported it undelivered"
        if recorded.status == DeliveryStatus.QUEUED and recorded.provider_ref is None:
            # Written before the send and never answered: it may have gone out.
            reason = "outcome unknown: a previous try may have sent it; not sent again"
            await self._record(attempt, DeliveryStatus.FAILED, error=reason)
            return reason
        return None

    async def _recorded(self, key: str) -> Notification | None:
        async with self._sessions() as session:
            return await notification_by_key(session, key=key)

    async def _on_call_supervisors(self, request: PageRequest) -> list[Staff]:
        """The on-call supervisor when the page was ordered (the schedule, else the flag); only
        a page to them asks."""
        if request.order.target is not PageTarget.ON_CALL_SUPERVISOR:
            return []
        async with self._sessions() as session:
            at = request.order.ordered_at
            return (await on_call_staff(session, request.program_id, Role.SUPERVISOR, at)).staff

    async def _active_staff(self, request: PageRequest) -> Sequence[Staff]:
        active = col(Staff.active).is_(True)
        query = select(Staff).where(Staff.program_id == request.program_id, active)
        async with self._sessions() as session:
            return (await session.exec(query.order_by(col(Staff.created_at)))).all()

    async def _record(
        self,
        attempt: _Attempt,
        status: DeliveryStatus,
        provider_ref: str | None = None,
        error: str | None = None,
    ) -> None:
        """Write the attempt's row under its key; once it is settled, its audit event too."""
        request, now = attempt.request, datetime.now(UTC)
        async with transaction(self._sessions) as session:
            row = await notification_by_key(session, key=attempt.key)
            if row is None:
                row = Notification(
                    incident_id=request.incident_id,
                    program_id=request.program_id,
                    purpose="page",
                    recipient_type="console" if attempt.target == CONSOLE_TARGET else "staff",
                    recipient_id=attempt.recipient_id,
                    channel=attempt.channel,
                    status=status,
                    idempotency_key=attempt.key,
                    created_at=now,
                )
                session.add(row)
            # A status callback may already have moved the row on (delivered): never back.
            if status is DeliveryStatus.FAILED or row.status == DeliveryStatus.QUEUED:
                row.status = status
            row.provider_ref = provider_ref or row.provider_ref
            row.error, row.updated_at = error, now
            if status is DeliveryStatus.FAILED or provider_ref is None:
                return  # the send is audited once the provider has accepted it
            order, target = request.order, attempt.target
            detail = {"page_id": order.page_id, "reason": order.reason, "target": target}
            detail |= {"recipient_id": attempt.recipient_id, "channel": attempt.channel}
            await append_in(
                session,
                AuditEntry(
                    event_key=attempt.key,
                    program_id=request.program_id,
                    action="page.sent",
                    actor_id="system",
                    actor_role="system",
                    at=now,
                    incident_id=request.incident_id,
                    detail=detail,
                ),
            )


def _routes(staff: Staff) -> list[tuple[Channel, str]]:
    """The staff member's channels in paging order: a text, a call, an email."""
    phone, email = staff.phone, staff.email
    routes = ((Channel.SMS, phone), (Channel.VOICE, phone), (Channel.EMAIL, email))
    return [(channel, address) for channel, address in routes if address]


def _reason(error: DeliveryError) -> str:
    """The channel's own PHI-free reason, prefixed with what kind of failure it was."""
    kinds = {PermanentDeliveryError: "permanent", UnknownDeliveryOutcome: "outcome unknown"}
    return f"{kinds.get(type(error), 'temporary')}: {error}"
