"""`cancel`: an incident entered in error ends (its protocol allows it only while `open`)."""

from __future__ import annotations

from typing import Any, Literal

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Reason
from domain.incident.rules import stop_running_ladders
from domain.vocabulary import DecisionKind, Stage


class Cancel(DecisionBody):
    kind: Literal[DecisionKind.CANCEL] = DecisionKind.CANCEL
    reason: Reason


def apply(change: Change[Cancel]) -> dict[str, Any]:
    s = change.state
    s.stage = Stage.CANCELLED
    s.ended_at = change.now
    change.effects.stop_ladders = stop_running_ladders(s, change.now)
    return {}


SPEC = DecisionKindSpec(kind=DecisionKind.CANCEL, body=Cancel, roles=CLINICAL, apply=apply)
