"""`contact_restored`: the client is back in touch; the lost-contact protocol ends."""

from __future__ import annotations

from typing import Any, Literal

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Text, Verdict
from domain.incident.rules import restore_contact
from domain.incident.state import Refusal
from domain.notification import LadderPurpose, LadderStatus
from domain.vocabulary import DecisionKind


class ContactRestored(DecisionBody):
    kind: Literal[DecisionKind.CONTACT_RESTORED] = DecisionKind.CONTACT_RESTORED
    how: Text


def refuse(verdict: Verdict[ContactRestored]) -> Refusal | None:
    if not verdict.state.contact_lost:
        return verdict.conflict("contact was not lost", "contact_not_lost")
    return None


def apply(change: Change[ContactRestored]) -> dict[str, Any]:
    s = change.state
    restore_contact(s)
    change.effects.stop_ladders = [
        ladder.ladder_id
        for ladder in s.ladders
        if ladder.purpose is LadderPurpose.LOST_CONTACT and ladder.status is LadderStatus.RUNNING
    ]
    return {}


SPEC = DecisionKindSpec(
    kind=DecisionKind.CONTACT_RESTORED,
    body=ContactRestored,
    roles=CLINICAL,
    refuse=refuse,
    apply=apply,
)
