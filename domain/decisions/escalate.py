"""`escalate`: the on-call supervisor is paged; naming an owner hands the incident to them."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Reason
from domain.incident.rules import owner_page
from domain.incident.state import PageOrder, PageTarget
from domain.vocabulary import DecisionKind


class Escalate(DecisionBody):
    kind: Literal[DecisionKind.ESCALATE] = DecisionKind.ESCALATE
    reason: Reason
    # Escalate to this clinician or supervisor of the program: they become the owner.
    owner_id: UUID | None = None


def apply(change: Change[Escalate]) -> dict[str, Any]:
    s, decision, now = change.state, change.decision, change.now
    change.effects.pages.append(
        PageOrder(
            page_id=f"escalate-{change.request.decision_id}",
            reason=f"escalated by {change.request.actor.role}",
            target=PageTarget.ON_CALL_SUPERVISOR,
            ordered_at=now,
        )
    )
    if decision.owner_id is None or decision.owner_id == s.owner_id:
        return {}
    detail = {"from": str(s.owner_id), "to": str(decision.owner_id)}
    s.owner_id = decision.owner_id
    change.effects.pages.append(owner_page(change.request, "escalated", decision.owner_id, now))
    return detail


SPEC = DecisionKindSpec(kind=DecisionKind.ESCALATE, body=Escalate, roles=CLINICAL, apply=apply)
