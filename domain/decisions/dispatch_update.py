"""`dispatch_update`: a dispatch en route, arrived, transported or cancelled (by a clinician,
or by the dispatch provider's signed callback)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Verdict
from domain.incident.rules import find_dispatch
from domain.incident.state import Refusal
from domain.vocabulary import DecisionKind, DispatchStatus


class DispatchUpdate(DecisionBody):
    kind: Literal[DecisionKind.DISPATCH_UPDATE] = DecisionKind.DISPATCH_UPDATE
    dispatch_id: UUID
    # Plain values, so a refusal lists them as a caller writes them (not as enum members).
    status: Literal["en_route", "arrived", "transported", "cancelled"]
    eta_minutes: int | None = Field(default=None, ge=0, le=600)
    destination: str | None = Field(default=None, max_length=200)


def refuse(verdict: Verdict[DispatchUpdate]) -> Refusal | None:
    dispatch = find_dispatch(verdict.state, verdict.decision.dispatch_id)
    if dispatch is None:
        return verdict.invalid("no such dispatch on this incident", "dispatch_id")
    if dispatch.status in (DispatchStatus.TRANSPORTED, DispatchStatus.CANCELLED):
        return verdict.conflict(f"the dispatch is already {dispatch.status}", "dispatch_ended")
    return None


def apply(change: Change[DispatchUpdate]) -> dict[str, Any]:
    s, decision = change.state, change.decision
    dispatch = find_dispatch(s, decision.dispatch_id)
    assert dispatch is not None  # checked by refuse
    dispatch.status = DispatchStatus(decision.status)
    if not dispatch.under_way:
        dispatch.ended_at = change.now
    dispatch.eta_minutes = decision.eta_minutes
    dispatch.destination = decision.destination or dispatch.destination
    if change.request.callback_event_id:
        s.callback_events.append(change.request.callback_event_id)
    return {"dispatch_id": str(decision.dispatch_id), "status": decision.status}


SPEC = DecisionKindSpec(
    kind=DecisionKind.DISPATCH_UPDATE,
    body=DispatchUpdate,
    roles=CLINICAL,
    refuse=refuse,
    apply=apply,
)
