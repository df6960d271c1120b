"""`deescalation`: techniques used and how it went; failed at high risk requires a dispatch."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from domain.decisions.base import CLINICAL, Change, ClinicalNotes, DecisionBody, DecisionKindSpec
from domain.incident.rules import advance, at_least, require_dispatch
from domain.vocabulary import DecisionKind, DeescalationOutcome, Stage


class Deescalation(DecisionBody):
    kind: Literal[DecisionKind.DEESCALATION] = DecisionKind.DEESCALATION
    techniques: list[Annotated[str, Field(min_length=2, max_length=64)]] = Field(
        min_length=1, max_length=20
    )
    outcome: DeescalationOutcome
    notes: ClinicalNotes = None


def apply(change: Change[Deescalation]) -> dict[str, Any]:
    s, decision = change.state, change.decision
    s.deescalation_outcome = decision.outcome
    if decision.outcome is DeescalationOutcome.FAILED and at_least(
        s.risk_level, change.protocol.failed_deescalation_dispatch_at
    ):
        require_dispatch(s, change.now)
    advance(s, Stage.DEESCALATING)
    return {"outcome": decision.outcome, "techniques": list(decision.techniques)}


SPEC = DecisionKindSpec(
    kind=DecisionKind.DEESCALATION, body=Deescalation, roles=CLINICAL, apply=apply
)
