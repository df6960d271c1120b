"""`reclassify`: the incident's crisis type was wrong (an SOS opens as `other`); the new type's
protocol applies from now, its version recorded, and the protocol's timers take its windows.
Earlier decisions stay as they were made, and so do the types it had: Part 2 protection earned
by a substance-use type is not lifted by moving away from it (`types_left`)."""

from __future__ import annotations

from typing import Any, Literal

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Reason, Verdict
from domain.incident.alarms import rewindow
from domain.incident.rules import require_dispatch
from domain.incident.state import IncidentState, Refusal
from domain.vocabulary import CrisisType, DecisionKind

# The key of the decision's detail that keeps the type it moved away from.
_FROM = "from"


class Reclassify(DecisionBody):
    kind: Literal[DecisionKind.RECLASSIFY] = DecisionKind.RECLASSIFY
    crisis_type: CrisisType
    reason: Reason


def refuse(verdict: Verdict[Reclassify]) -> Refusal | None:
    wanted = verdict.decision.crisis_type
    if wanted is verdict.state.crisis_type:
        return verdict.invalid(f"crisis_type: the incident is already {wanted}", "crisis_type")
    protocol = verdict.request.protocol
    if protocol is None or protocol.crisis_type is not wanted:
        return verdict.invalid(
            f"crisis_type: the {wanted} protocol was not provided", "crisis_type"
        )
    return None


def apply(change: Change[Reclassify]) -> dict[str, Any]:
    s, now = change.state, change.now
    protocol = change.request.protocol
    assert protocol is not None  # checked by refuse
    detail = {
        _FROM: s.crisis_type,
        "to": protocol.crisis_type,
        "protocol_version": protocol.version,
        "previous_protocol_version": s.protocol_version,
    }
    s.crisis_type, s.protocol_version = protocol.crisis_type, protocol.version
    change.effects.protocol = protocol
    # The new protocol's threshold: a risk already recorded may now require a dispatch.
    if s.risk_level is not None and s.risk_level.at_least(protocol.dispatch_required_at):
        require_dispatch(s, now)
    rewindow(s, protocol)
    return detail


def types_left(state: IncidentState) -> list[CrisisType]:
    """Every crisis type a reclassify moved the incident away from, oldest first: the type it
    opened with, then each one after it but the current one."""
    return [
        CrisisType(entry.detail[_FROM])
        for entry in state.decisions
        if entry.kind is DecisionKind.RECLASSIFY
    ]


SPEC = DecisionKindSpec(
    kind=DecisionKind.RECLASSIFY, body=Reclassify, roles=CLINICAL, refuse=refuse, apply=apply
)
