"""Local dispatch as data: the order the workflow gives, the packet a provider receives, and the
signed callback a provider sends back. CrisisDesk never calls 911 itself: for 911 and 988 the
clinician calls, and CrisisDesk records who called, when, and the reference given."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from domain.location import Location
from domain.models.text import NulFreeText
from domain.vocabulary import DispatchService, DispatchStatus

CLINICIAN_CALLED_SERVICES = frozenset({DispatchService.EMERGENCY_911, DispatchService.CRISIS_988})
# Services a directory resource must back: everyone else is reached through the directory.
NEEDS_RESOURCE = frozenset(set(DispatchService) - CLINICIAN_CALLED_SERVICES)


class DispatchOrder(BaseModel):
    """Send (or re-send) the dispatch packet for one dispatch."""

    incident_id: UUID
    program_id: UUID
    dispatch_id: UUID
    service: DispatchService
    resource_id: UUID | None
    client_id: UUID
    location: Location | None
    crisis_type: str
    risk_level: str | None
    done_so_far: list[str]
    requested_by: str
    reason: str
    attempt: int = 1

    @property
    def idempotency_key(self) -> str:
        return f"dispatch:{self.dispatch_id}:{self.attempt}"


class DispatchSent(BaseModel):
    channel: str
    provider_ref: str | None = None
    clinician_called: bool = False


class DispatchCallback(NulFreeText):
    """What a CAD or mobile-crisis system posts back (signed) about one dispatch."""

    event_id: str = Field(min_length=8, max_length=100)
    incident_id: UUID
    dispatch_id: UUID
    status: DispatchStatus
    eta_minutes: int | None = Field(default=None, ge=0, le=600)
    destination: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = None


def dispatch_packet(
    order: DispatchOrder,
    *,
    client_name: str,
    callback_number: str | None,
    clinician_name: str,
    clinician_callback: str,
    resource: dict[str, Any] | None,
) -> dict[str, Any]:
    """The packet a responder needs: who, where, what, how risky, what was done, whom to call."""
    return {
        "dispatch_id": str(order.dispatch_id),
        "incident_id": str(order.incident_id),
        "attempt": order.attempt,
        "service": order.service,
        "resource": resource,
        "client": {"name": client_name, "callback_number": callback_number},
        "location": order.location.model_dump(exclude_none=True) if order.location else None,
        "crisis_type": order.crisis_type,
        "risk_level": order.risk_level,
        "reason": order.reason,
        "done_so_far": order.done_so_far,
        "call_back": {"clinician": clinician_name, "number": clinician_callback},
    }
