"""Sending the dispatch packet to the dispatch provider (a signed webhook to a CAD or mobile
crisis system, or the console), and recording that a clinician called 911 or 988 themself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.channels import WebhookChannel
from domain.audit import AuditEntry
from domain.dispatch import CLINICIAN_CALLED_SERVICES, DispatchOrder, DispatchSent, dispatch_packet
from domain.models import Client, Program, Resource, Staff
from infra.audit_log import append_in
from infra.db import transaction

log = structlog.get_logger("crisisdesk.dispatch")


class DispatchActivities:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], provider: WebhookChannel | None
    ) -> None:
        self._sessions = sessions
        self._provider = provider

    @activity.defn(name="send_dispatch_packet")
    async def send_dispatch_packet(self, order: DispatchOrder) -> DispatchSent:
        bound = log.bind(incident_id=str(order.incident_id), dispatch_id=str(order.dispatch_id))
        if order.service in CLINICIAN_CALLED_SERVICES:
            sent = DispatchSent(channel="clinician_call", clinician_called=True)
        elif self._provider is None:
            bound.warning("dispatch.console", service=str(order.service), attempt=order.attempt)
            sent = DispatchSent(channel="console")
        else:
            packet = await self._packet(order)
            receipt = await self._provider.post(
                packet, idempotency_key=order.idempotency_key, incident_id=str(order.incident_id)
            )
            bound.info("dispatch.sent", service=str(order.service), attempt=order.attempt)
            sent = DispatchSent(channel="webhook", provider_ref=receipt.provider_ref)
        await self._audit(order, sent)
        return sent

    async def _packet(self, order: DispatchOrder) -> dict[str, Any]:
        async with self._sessions() as session:
            client = await session.get(Client, order.client_id)
            clinician = await session.get(Staff, UUID(order.requested_by))
            program = await session.get(Program, order.program_id)
            resource = await session.get(Resource, order.resource_id) if order.resource_id else None
        assert client is not None and clinician is not None and program is not None
        return dispatch_packet(
            order,
            client_name=f"{client.first_name} {client.last_name}",
            callback_number=client.phone,
            clinician_name=clinician.name,
            clinician_callback=program.crisis_line_phone,
            resource=(
                {"id": str(resource.id), "name": resource.name, "phone": resource.phone}
                if resource
                else None
            ),
        )

    async def _audit(self, order: DispatchOrder, sent: DispatchSent) -> None:
        async with transaction(self._sessions) as session:
            await append_in(
                session,
                AuditEntry(
                    event_key=order.idempotency_key,
                    program_id=order.program_id,
                    action="dispatch.sent" if not sent.clinician_called else "dispatch.called",
                    actor_id=order.requested_by,
                    actor_role="clinician",
                    at=datetime.now(UTC),
                    incident_id=order.incident_id,
                    detail={
                        "dispatch_id": str(order.dispatch_id),
                        "service": order.service,
                        "attempt": order.attempt,
                        "channel": sent.channel,
                    },
                ),
            )
