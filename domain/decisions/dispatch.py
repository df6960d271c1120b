"""`dispatch`: send help (911 is called by the clinician; others get a dispatch packet)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Reason, Verdict
from domain.dispatch import NEEDS_RESOURCE
from domain.incident.rules import advance, dispatch_order
from domain.incident.state import DispatchState, Refusal
from domain.location import Location
from domain.vocabulary import DecisionKind, DispatchService, DispatchStatus, Stage, with_article


class DispatchRequest(DecisionBody):
    kind: Literal[DecisionKind.DISPATCH] = DecisionKind.DISPATCH
    service: DispatchService
    resource_id: UUID | None = None
    reason: Reason
    reference: str | None = Field(default=None, max_length=200)
    location: Location | None = None


def refuse(verdict: Verdict[DispatchRequest]) -> Refusal | None:
    decision = verdict.decision
    if decision.service in NEEDS_RESOURCE and not decision.resource_id:
        return verdict.invalid(
            f"{with_article(decision.service)} dispatch needs a resource from the directory",
            "resource_id",
        )
    if decision.location is None and verdict.state.location is None:
        return verdict.conflict(
            "dispatch needs the client's location: record it with the dispatch",
            "location_required",
            "location",
        )
    return None


def apply(change: Change[DispatchRequest]) -> dict[str, Any]:
    s, decision, request = change.state, change.decision, change.request
    if decision.location is not None:
        s.location = decision.location
    s.dispatches.append(
        DispatchState(
            dispatch_id=request.decision_id,
            service=decision.service,
            resource_id=decision.resource_id,
            status=DispatchStatus.REQUESTED,
            requested_at=change.now,
            requested_by=request.actor.staff_id,
            reference=decision.reference,
            reason=decision.reason,
        )
    )
    if s.dispatch_tracking:
        change.effects.dispatches.append(dispatch_order(s, s.dispatches[-1], attempt=1))
    advance(s, Stage.RESPONDING)
    return {
        "dispatch_id": str(request.decision_id),
        "service": decision.service,
        "reason": decision.reason,
        "reference": decision.reference,
    }


SPEC = DecisionKindSpec(
    kind=DecisionKind.DISPATCH, body=DispatchRequest, roles=CLINICAL, refuse=refuse, apply=apply
)
