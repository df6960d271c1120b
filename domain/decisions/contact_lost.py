"""`contact_lost`: the session dropped or the client stopped answering; the lost-contact
protocol tries to reach the client on their own channels while its window runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from domain.decisions.base import (
    CLINICAL,
    Change,
    ClinicalNotes,
    DecisionBody,
    DecisionKindSpec,
    Verdict,
)
from domain.incident.state import LadderSummary, Refusal
from domain.notification import (
    LadderPlan,
    LadderPolicy,
    LadderPurpose,
    LadderRecipient,
    RecipientType,
)
from domain.vocabulary import DecisionKind


class ContactLost(DecisionBody):
    kind: Literal[DecisionKind.CONTACT_LOST] = DecisionKind.CONTACT_LOST
    channel: Literal["video", "phone", "chat", "other"] = "video"
    lost_at: datetime | None = None
    notes: ClinicalNotes = None


def refuse(verdict: Verdict[ContactLost]) -> Refusal | None:
    if not verdict.request.client_channels:
        return verdict.conflict(
            "the client has no phone or email on file to reach them by", "client_unreachable"
        )
    if verdict.state.contact_lost:
        return verdict.conflict(
            "contact is already lost; record contact_restored first", "contact_lost"
        )
    return None


def _client_ladder(change: Change[ContactLost]) -> LadderPlan:
    """The lost-contact ladder: the client is the one to reach, on their own channels."""
    s, channels = change.state, change.request.client_channels or ()
    return LadderPlan(
        ladder_id=change.request.decision_id,
        incident_id=s.incident_id,
        program_id=s.program_id,
        purpose=LadderPurpose.LOST_CONTACT,
        recipients=[
            LadderRecipient(
                recipient_type=RecipientType.CLIENT, recipient_id=s.client_id, channels=channels
            )
        ],
        # Each channel gets its share of the window; the window itself is the alarm's.
        policy=LadderPolicy(ack_window=change.protocol.lost_contact_window / max(len(channels), 1)),
    )


def apply(change: Change[ContactLost]) -> dict[str, Any]:
    s = change.state
    s.contact_lost = True
    s.contact_lost_since = change.now
    plan = _client_ladder(change)
    change.effects.ladders.append(plan)
    s.ladders.append(
        LadderSummary(
            ladder_id=plan.ladder_id,
            purpose=plan.purpose,
            recipient_ids=[s.client_id],
            started_at=change.now,
        )
    )
    return {"channel": change.decision.channel, "ladder_id": str(plan.ladder_id)}


SPEC = DecisionKindSpec(
    kind=DecisionKind.CONTACT_LOST, body=ContactLost, roles=CLINICAL, refuse=refuse, apply=apply
)
