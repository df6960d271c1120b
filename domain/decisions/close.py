"""`close` (supervisors): the incident ends. Refused while help is on its way unless forced;
follow-up tasks keep running unless the close cancels them."""

from __future__ import annotations

from typing import Any, Literal

from domain.decisions.base import (
    SUPERVISORS,
    Change,
    DecisionBody,
    DecisionKindSpec,
    Reason,
    Verdict,
)
from domain.incident.rules import stop_running_ladders
from domain.incident.state import Refusal
from domain.vocabulary import DecisionKind, DispatchStatus, Stage


class Close(DecisionBody):
    kind: Literal[DecisionKind.CLOSE] = DecisionKind.CLOSE
    reason: Reason
    # Close although a dispatch is still requested or en route (the reason says why).
    force: bool = False
    # Closing in follow-up keeps the follow-up tasks running unless this says otherwise.
    cancel_followup: bool = False


def refuse(verdict: Verdict[Close]) -> Refusal | None:
    waiting = (DispatchStatus.REQUESTED, DispatchStatus.EN_ROUTE)
    if not verdict.decision.force and any(d.status in waiting for d in verdict.state.dispatches):
        return verdict.conflict(
            'a dispatch is still requested or en route: record its outcome, or close with "force":'
            " true and the reason",
            "dispatch_under_way",
            "force",
        )
    return None


def apply(change: Change[Close]) -> dict[str, Any]:
    s, decision = change.state, change.decision
    s.stage = Stage.CLOSED
    s.ended_at = change.now
    change.effects.stop_ladders = stop_running_ladders(s, change.now)
    s.stopped_by_close = [f"ladder {ladder}" for ladder in change.effects.stop_ladders]
    if s.followup_running and decision.cancel_followup:
        change.effects.cancel_followup = True
        s.stopped_by_close.append("follow-up tasks")
    return {
        "force": decision.force,
        "cancel_followup": decision.cancel_followup,
        "stopped": list(s.stopped_by_close),
    }


SPEC = DecisionKindSpec(
    kind=DecisionKind.CLOSE, body=Close, roles=SUPERVISORS, refuse=refuse, apply=apply
)
