"""`contact_reached`: a notified contact was reached another way (they called back); their
ladder stops."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Text, Verdict
from domain.incident.rules import acknowledge_on_ladder, ladder_with
from domain.incident.state import Refusal
from domain.notification import Acknowledgement
from domain.vocabulary import DecisionKind


class ContactReached(DecisionBody):
    kind: Literal[DecisionKind.CONTACT_REACHED] = DecisionKind.CONTACT_REACHED
    contact_id: UUID
    how: Text


def refuse(verdict: Verdict[ContactReached]) -> Refusal | None:
    if ladder_with(verdict.state, verdict.decision.contact_id) is None:
        return verdict.invalid("this contact is not being notified", "contact_id")
    return None


def apply(change: Change[ContactReached]) -> dict[str, Any]:
    contact_id = change.decision.contact_id
    change.effects.acknowledgements.append(
        Acknowledgement(recipient_id=contact_id, via="clinician", at=change.now)
    )
    acknowledge_on_ladder(change.state, contact_id, None, "clinician", change.now)
    return {"contact_id": str(contact_id)}


SPEC = DecisionKindSpec(
    kind=DecisionKind.CONTACT_REACHED,
    body=ContactReached,
    roles=CLINICAL,
    refuse=refuse,
    apply=apply,
)
