"""`notify_contacts`: tell emergency contacts, on a disclosure basis the rules allow, with its
grounds (a threat or incapacity basis needs high risk or a justification); starts the contact
ladder, each contact carrying the consents its disclosure rests on."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Verdict
from domain.decisions.reclassify import types_left
from domain.disclosure import DisclosurePlan, grounds_refusal, plan_disclosure, rule_detail
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
    # Why a threat or incapacity basis holds when the recorded risk does not show it.
    justification: str | None = Field(default=None, max_length=4000)


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
        part2_program=request.disclosure.part2_program,
        assessed_with=[a.instrument for a in verdict.state.assessments],
        earlier_types=types_left(verdict.state),
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
    ungrounded = grounds_refusal(
        basis=verdict.decision.basis,
        risk_level=verdict.state.risk_level,
        justification=verdict.decision.justification,
    )
    if ungrounded is not None:
        return verdict.conflict(
            rule_detail(ungrounded), f"disclosure_refused:{ungrounded}", "justification"
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


def _ladder(change: Change[NotifyContacts], plan: DisclosurePlan) -> LadderPlan:
    decision, request, s = change.decision, change.request, change.state
    assert request.disclosure is not None
    relied = {r.contact_id: r.consent_ids for r in plan.relies_on}
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
                consent_ids=relied.get(c.facts.contact_id, ()),
            )
            for c in chosen
        ],
        policy=LadderPolicy(ack_window=change.protocol.contact_ack_window),
    )


def apply(change: Change[NotifyContacts]) -> dict[str, Any]:
    s, decision = change.state, change.decision
    disclosure = _plan(change)
    plan = _ladder(change, disclosure)
    change.effects.ladders.append(plan)
    documentation = disclosure.part2_documentation
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
        "consent_ids": [str(c) for r in disclosure.relies_on for c in r.consent_ids],
    }


SPEC = DecisionKindSpec(
    kind=DecisionKind.NOTIFY_CONTACTS,
    body=NotifyContacts,
    roles=CLINICAL,
    refuse=refuse,
    apply=apply,
)
