"""Paging staff: find who is on call for the program and reach them on the paging channel."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.channels import ConsoleChannel, DeliveryChannel, OutboundMessage
from domain.audit import AuditEntry
from domain.effects import PageRequest, PageResult
from domain.incident import PageTarget
from domain.models import Notification, Staff
from domain.vocabulary import Channel, DeliveryStatus, Role
from infra.audit_log import append_in
from infra.db import transaction
from infra.records import notification_by_key


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
        """Page the order's target (supervisors, the follow-up queue, one staff member); each
        recipient at most once."""
        recipients = await self._recipients(request)
        delivered = False
        used: set[str] = set()
        for staff in recipients:
            key = f"page:{request.incident_id}:{request.order.page_id}:{staff.id}"
            if await self._already_sent(key):
                delivered = True
                continue
            channel, address = self._route(staff)
            receipt = await channel.send(
                OutboundMessage(
                    idempotency_key=key,
                    incident_id=str(request.incident_id),
                    recipient_id=str(staff.id),
                    address=address,
                    subject="CrisisDesk page",
                    # An incident id and the reason: the details are behind a staff login.
                    body=f"CrisisDesk incident {request.incident_id}: {request.order.reason}",
                )
            )
            used.add(channel.name)
            delivered = delivered or receipt.status is not DeliveryStatus.FAILED
            await self._record(request, staff, key, receipt.status, receipt.provider_ref, channel)
        return PageResult(
            recipients=[str(s.id) for s in recipients],
            channel=",".join(sorted(used)) or "none",
            delivered=delivered,
        )

    def _route(self, staff: Staff) -> tuple[DeliveryChannel, str | None]:
        """Text the staff member's phone, else email them, else the console."""
        if staff.phone and Channel.SMS in self._channels:
            return self._channels[Channel.SMS], staff.phone
        if staff.email and Channel.EMAIL in self._channels:
            return self._channels[Channel.EMAIL], staff.email
        return self._channels.get(Channel.CONSOLE) or ConsoleChannel(), None

    async def _recipients(self, request: PageRequest) -> list[Staff]:
        """Who the target names; when nobody active fits, the program's supervisors, so a page
        never goes nowhere."""
        target = request.order.target
        async with self._sessions() as session:
            staff = (
                await session.exec(
                    select(Staff)
                    .where(Staff.program_id == request.program_id)
                    .where(col(Staff.active).is_(True))
                    .order_by(col(Staff.created_at))
                )
            ).all()
        if target is PageTarget.STAFF:
            named = [s for s in staff if s.id == request.order.staff_id]
            if named:
                return named
        if target in (PageTarget.STAFF, PageTarget.FOLLOWUP_QUEUE):
            queue = [s for s in staff if s.role == Role.FOLLOWUP]
            if queue:
                return queue
        supervisors = [s for s in staff if s.role == Role.SUPERVISOR]
        on_call = [s for s in supervisors if s.on_call]
        if target is PageTarget.ON_CALL_SUPERVISOR and on_call:
            return on_call
        return supervisors

    async def _already_sent(self, key: str) -> bool:
        async with self._sessions() as session:
            return await notification_by_key(session, key=key) is not None

    async def _record(
        self,
        request: PageRequest,
        staff: Staff,
        key: str,
        status: DeliveryStatus,
        provider_ref: str | None,
        channel: DeliveryChannel,
    ) -> None:
        now = datetime.now(UTC)
        async with transaction(self._sessions) as session:
            session.add(
                Notification(
                    incident_id=request.incident_id,
                    program_id=request.program_id,
                    purpose="page",
                    recipient_type="staff",
                    recipient_id=str(staff.id),
                    channel=channel.name,
                    status=status,
                    idempotency_key=key,
                    provider_ref=provider_ref,
                    created_at=now,
                    updated_at=now,
                )
            )
            await append_in(
                session,
                AuditEntry(
                    event_key=key,
                    program_id=request.program_id,
                    action="page.sent",
                    actor_id="system",
                    actor_role="system",
                    at=now,
                    incident_id=request.incident_id,
                    detail={
                        "page_id": request.order.page_id,
                        "recipient_id": str(staff.id),
                        "reason": request.order.reason,
                        "channel": channel.name,
                    },
                ),
            )
