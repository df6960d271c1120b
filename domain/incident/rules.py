"""Rules several decision kinds and events share: stage order, risk, dispatch, ladders.

Each function changes the `IncidentState` it is given (a copy the caller owns) or reads it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.dispatch import DispatchOrder
from domain.incident.state import (
    DecisionEntry,
    DispatchState,
    IncidentState,
    LadderSummary,
    PageOrder,
    PageTarget,
)
from domain.notification import LadderStatus
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import DispatchService, RiskLevel, Stage

if TYPE_CHECKING:
    from domain.decisions import DecisionRequest

_STAGE_ORDER = [
    Stage.OPEN,
    Stage.ASSESSING,
    Stage.DEESCALATING,
    Stage.RESPONDING,
    Stage.STABILIZED,
    Stage.FOLLOW_UP,
]


def advance(s: IncidentState, stage: Stage) -> None:
    """Stages only move forward: a reassessment while responding does not go back, and an
    ended incident stays ended (a child that started as it closed cannot reopen it)."""
    if s.stage.is_final:
        return
    if _STAGE_ORDER.index(stage) > _STAGE_ORDER.index(s.stage):
        s.stage = stage


def set_risk(s: IncidentState, protocol: CrisisProtocol, level: RiskLevel, now: datetime) -> None:
    s.risk_level = level
    if level is RiskLevel.IMMINENT:
        s.imminent_since = s.imminent_since or now
    else:
        s.imminent_since = None
    if level.at_least(protocol.dispatch_required_at):
        require_dispatch(s, now)


def require_dispatch(s: IncidentState, now: datetime) -> None:
    if s.dispatch_required_since is None:
        s.dispatch_required_since = now


def at_least(level: RiskLevel | None, threshold: RiskLevel) -> bool:
    return level is not None and level.at_least(threshold)


def find_dispatch(state: IncidentState, dispatch_id: UUID) -> DispatchState | None:
    return next((d for d in state.dispatches if d.dispatch_id == dispatch_id), None)


def find_decision(state: IncidentState, decision_id: UUID) -> DecisionEntry | None:
    return next((d for d in state.decisions if d.decision_id == decision_id), None)


def dispatch_order(s: IncidentState, dispatch: DispatchState, attempt: int) -> DispatchOrder:
    """The packet order for a dispatch: its first send, or a re-send after no confirmation."""
    return DispatchOrder(
        incident_id=s.incident_id,
        program_id=s.program_id,
        dispatch_id=dispatch.dispatch_id,
        service=DispatchService(dispatch.service),
        resource_id=dispatch.resource_id,
        client_id=s.client_id,
        location=s.location,
        crisis_type=s.crisis_type,
        risk_level=s.risk_level,
        done_so_far=done_so_far(s),
        requested_by=dispatch.requested_by,
        reason=dispatch.reason or "re-sent: not confirmed en route",
        attempt=attempt,
    )


def done_so_far(s: IncidentState) -> list[str]:
    """What responders should know was done: decisions and their outcomes, never the notes."""
    lines = []
    for entry in s.decisions:
        facts = ", ".join(
            f"{k}={v}" for k, v in entry.detail.items() if isinstance(v, str | int) and v != ""
        )
        lines.append(f"{entry.at:%H:%M} {entry.kind}" + (f" ({facts})" if facts else ""))
    return lines


def running_ladders(s: IncidentState) -> list[UUID]:
    return [ladder.ladder_id for ladder in s.ladders if ladder.status is LadderStatus.RUNNING]


def stop_running_ladders(s: IncidentState, now: datetime) -> list[UUID]:
    """An incident that ends stops its ladders: the record says so at once, since the workflow
    ends without waiting for their answers (a message not yet sent is not sent)."""
    stopping = running_ladders(s)
    for ladder in s.ladders:
        if ladder.ladder_id in stopping:
            ladder.status, ladder.ended_at = LadderStatus.STOPPED, now
    return stopping


def restore_contact(s: IncidentState) -> None:
    s.contact_lost = False
    s.contact_lost_since = None


def acknowledge_on_ladder(
    s: IncidentState, recipient_id: UUID, ladder_id: UUID | None, via: str, now: datetime
) -> LadderSummary | None:
    ladder = ladder_with(s, recipient_id, ladder_id)
    if ladder is not None and ladder.acknowledged_by is None:
        ladder.acknowledged_by, ladder.acknowledged_via = recipient_id, via
        if ladder.status is LadderStatus.RUNNING:
            ladder.status = LadderStatus.ACKNOWLEDGED
            ladder.ended_at = now
    return ladder


def ladder_with(
    s: IncidentState, recipient_id: UUID, ladder_id: UUID | None = None
) -> LadderSummary | None:
    """The newest ladder naming the recipient (the given one, when an ack names its ladder)."""
    for ladder in reversed(s.ladders):
        if recipient_id in ladder.recipient_ids and ladder_id in (None, ladder.ladder_id):
            return ladder
    return None


def owner_page(request: DecisionRequest, verb: str, owner_id: UUID, now: datetime) -> PageOrder:
    return PageOrder(
        page_id=f"owner-{request.decision_id}",
        reason=f"an incident was {verb} to you",
        target=PageTarget.STAFF,
        staff_id=owner_id,
        ordered_at=now,
    )


def plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
