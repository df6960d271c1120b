"""`disposition`: how the crisis ended for now (with a safety plan where the protocol asks);
the incident is stabilized and its follow-up scheduled."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from domain.decisions.base import (
    CLINICAL,
    Change,
    ClinicalNotes,
    DecisionBody,
    DecisionKindSpec,
    Verdict,
)
from domain.followup import FollowUpPlan
from domain.incident.rules import advance
from domain.incident.state import Refusal
from domain.models.text import NulFreeText
from domain.vocabulary import DecisionKind, DispositionOutcome, Stage

PlanItems = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=500)]], Field(min_length=1, max_length=20)
]


class SafetyPlan(NulFreeText):
    """Stanley-Brown safety plan: its six sections."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warning_signs: PlanItems
    internal_coping: PlanItems
    social_distractions: PlanItems
    people_to_ask: PlanItems
    professionals: PlanItems
    means_safety: PlanItems


class Disposition(DecisionBody):
    kind: Literal[DecisionKind.DISPOSITION] = DecisionKind.DISPOSITION
    outcome: DispositionOutcome
    safety_plan: SafetyPlan | None = None
    notes: ClinicalNotes = None


def refuse(verdict: Verdict[Disposition]) -> Refusal | None:
    state = verdict.state
    if not state.assessments:
        return verdict.conflict("record an assessment before the disposition", "required_step")
    missing = [s for s in state.required_steps if s is not DecisionKind.ASSESSMENT]
    if missing:
        return verdict.conflict(
            f"{', '.join(missing)} is required before the disposition", "required_step"
        )
    if verdict.protocol.requires_safety_plan and verdict.decision.safety_plan is None:
        return verdict.invalid(
            f"the {state.crisis_type} protocol requires a Stanley-Brown safety plan",
            "safety_plan",
        )
    return None


def apply(change: Change[Disposition]) -> dict[str, Any]:
    s, decision, protocol = change.state, change.decision, change.protocol
    s.disposition = decision.outcome
    if decision.safety_plan is not None:
        s.safety_plan = decision.safety_plan.model_dump()
    advance(s, Stage.STABILIZED)
    if s.followup_tracking and protocol.followup_schedule and not s.followup_started:
        s.followup_running = True
        change.effects.followup = FollowUpPlan(
            incident_id=s.incident_id,
            program_id=s.program_id,
            client_id=s.client_id,
            owner_id=s.owner_id,
            risk_level=s.risk_level,
            schedule=list(protocol.followup_schedule),
            grace=protocol.followup_grace,
            safety_plan=s.safety_plan,
            starts_at=change.now,
        )
    return {"outcome": decision.outcome, "safety_plan": decision.safety_plan is not None}


SPEC = DecisionKindSpec(
    kind=DecisionKind.DISPOSITION, body=Disposition, roles=CLINICAL, refuse=refuse, apply=apply
)
