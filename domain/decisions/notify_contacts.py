"""`notify_contacts`: tell emergency contacts, on a disclosure basis the rules allow; starts the
contact ladder."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Verdict
from domain.disclosure import DisclosurePlan, plan_disclosure
from domain.incident.rules import advance
from domain.incident.state import LadderSummary, Refusal
from domain.notification import (
    LadderPlan,
    LadderPolicy,
    LadderPurpose,
    LadderRecipient,
    RecipientType,
)
from domain.vocabulary import DecisionKind, DisclosureBasis, Stage


class NotifyContacts(DecisionBody):
    kind: Literal[DecisionKind.NOTIFY_CONTACTS] = DecisionKind.NOTIFY_CONTACTS
    contact_ids: list[UUID] = Field(min_length=1, max_length=20)
    basis: DisclosureBasis
    emergency_nature: str | None = Field(default=None, max_length=500)


def _plan(verdict: Verdict[NotifyContacts] | Change[NotifyContacts]) -> DisclosurePlan:
    decision, request = verdict.decision, verdict.request
    assert request.disclosure is not None  # checked by refuse
    on_file = {c.facts.contact_id: c for c in request.disclosure.contacts}
    return plan_disclosure(
        crisis_type=verdict.state.crisis_type,
        basis=decision.basis,
        contacts=[on_file[c].facts for c in decision.contact_ids if c in on_file],
        consents=request.disclosure.consents,
        now=verdict.now,
        disclosed_by=request.actor.staff_id,
        nature_of_emergency=decision.emergency_nature,
    )


def refuse(verdict: Verdict[NotifyContacts]) -> Refusal | None:
    disclosure = verdict.request.disclosure
    if disclosure is None:
        return verdict.invalid(
            "the client's contacts and consents were not provided", "contact_ids"
        )
    known = {c.facts.contact_id for c in disclosure.contacts}
    unknown = [c for c in verdict.decision.contact_ids if c not in known]
    if unknown:
        return verdict.invalid(
            f"not an emergency contact of this client: {unknown[0]}", "contact_ids"
        )
    plan = _plan(verdict)
    if plan.refusals:
        first = plan.refusals[0]
        return verdict.conflict(
            f"contact {first.contact_id}: {first.detail}",
            f"disclosure_refused:{first.rule}",
            "basis",
        )
    return None


def _ladder(change: Change[NotifyContacts]) -> LadderPlan:
    decision, request, s = change.decision, change.request, change.state
    assert request.disclosure is not None
    chosen = [c for c in request.disclosure.contacts if c.facts.contact_id in decision.contact_ids]
    chosen.sort(key=lambda c: (c.priority, decision.contact_ids.index(c.facts.contact_id)))
    return LadderPlan(
        ladder_id=request.decision_id,
        incident_id=s.incident_id,
        program_id=s.program_id,
        purpose=LadderPurpose.EMERGENCY_CONTACT,
        recipients=[
            LadderRecipient(
                recipient_type=RecipientType.CONTACT,
                recipient_id=c.facts.contact_id,
                channels=c.channels,
            )
            for c in chosen
        ],
        policy=LadderPolicy(ack_window=change.protocol.contact_ack_window),
    )


def apply(change: Change[NotifyContacts]) -> dict[str, Any]:
    s, decision = change.state, change.decision
    plan = _ladder(change)
    change.effects.ladders.append(plan)
    documentation = _plan(change).part2_documentation
    s.part2_disclosures.extend(documentation)
    s.ladders.append(
        LadderSummary(
            ladder_id=plan.ladder_id,
            purpose=plan.purpose,
            recipient_ids=[r.recipient_id for r in plan.recipients],
            basis=decision.basis,
            started_at=change.now,
        )
    )
    advance(s, Stage.RESPONDING)
    return {
        "ladder_id": str(plan.ladder_id),
        "contact_ids": [str(r.recipient_id) for r in plan.recipients],
        "basis": decision.basis,
        "part2_documentation": [d.model_dump(mode="json") for d in documentation],
    }


SPEC = DecisionKindSpec(
    kind=DecisionKind.NOTIFY_CONTACTS,
    body=NotifyContacts,
    roles=CLINICAL,
    refuse=refuse,
    apply=apply,
)
