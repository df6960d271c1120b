"""`reassign` (supervisors): a new owner, who is paged."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from domain.decisions.base import (
    SUPERVISORS,
    Change,
    DecisionBody,
    DecisionKindSpec,
    Reason,
    Verdict,
)
from domain.incident.rules import owner_page
from domain.incident.state import Refusal
from domain.vocabulary import DecisionKind


class Reassign(DecisionBody):
    kind: Literal[DecisionKind.REASSIGN] = DecisionKind.REASSIGN
    # An active clinician or supervisor of the program: checked by the API before it is sent.
    owner_id: UUID
    reason: Reason


def refuse(verdict: Verdict[Reassign]) -> Refusal | None:
    if verdict.decision.owner_id == verdict.state.owner_id:
        return verdict.invalid("the incident already has this owner", "owner_id")
    return None


def apply(change: Change[Reassign]) -> dict[str, Any]:
    s, owner_id = change.state, change.decision.owner_id
    detail = {"from": str(s.owner_id), "to": str(owner_id)}
    s.owner_id = owner_id
    change.effects.pages.append(owner_page(change.request, "reassigned", owner_id, change.now))
    return detail


SPEC = DecisionKindSpec(
    kind=DecisionKind.REASSIGN, body=Reassign, roles=SUPERVISORS, refuse=refuse, apply=apply
)
