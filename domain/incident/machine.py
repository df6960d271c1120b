"""The incident state machine: open, refuse or apply a decision through the registry, and
take in what the outside reports (acknowledgements, ladder results, follow-up news, SOS).

Nothing here touches a clock or I/O: time is passed in.
"""

from __future__ import annotations

from datetime import datetime

from domain.decisions import DECISIONS, Change, DecisionRequest, Verdict
from domain.incident.alarms import settle
from domain.incident.rules import (
    acknowledge_on_ladder,
    advance,
    at_least,
    find_decision,
    plain,
    require_dispatch,
    restore_contact,
)
from domain.incident.state import (
    DecisionEntry,
    Effects,
    IncidentOpening,
    IncidentState,
    LadderSummary,
    PageOrder,
    PageTarget,
    Refusal,
    SosPress,
    workflow_id_for,
)
from domain.notification import Acknowledgement, LadderPurpose, LadderResult
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import DecisionKind, RiskLevel, Role, Stage, with_article


def open_incident(opening: IncidentOpening, now: datetime) -> IncidentState:
    """The state at start; the protocol's clocks run from `now`, the workflow's own time."""
    state = IncidentState(
        incident_id=opening.incident_id,
        workflow_id=workflow_id_for(opening.incident_id),
        program_id=opening.program_id,
        client_id=opening.client_id,
        crisis_type=opening.crisis_type,
        owner_id=opening.owner_id,
        opened_by=opening.opened_by.staff_id,
        opened_at=opening.opened_at,
        updated_at=opening.opened_at,
        protocol_version=opening.protocol.version,
        summary=opening.summary,
        location=opening.location,
        origin=opening.origin,
        sos_presses=1 if opening.origin == "sos" else 0,
        request_digest=opening.request_digest,
    )
    return settle(state, opening.protocol, now)


def refusal(
    state: IncidentState, protocol: CrisisProtocol, request: DecisionRequest, now: datetime
) -> Refusal | None:
    """The reason this decision cannot be made now, or None when it can: the rules every kind
    shares (program, role, replays, stage), then the kind's own."""
    kind = DecisionKind(request.decision.kind)
    actor = request.actor
    if actor.program_id != state.program_id:
        return Refusal(status=404, code="not_found", detail="no such incident")
    # A dispatch provider's signed callback is the one decision the system itself records.
    provider_update = actor.role == "system" and kind is DecisionKind.DISPATCH_UPDATE
    if not provider_update and (
        actor.role == "system" or Role(actor.role) not in DECISIONS[kind].roles
    ):
        return Refusal(
            status=403,
            code="forbidden_role",
            detail=f"{with_article(actor.role)} may not record {kind}",
        )
    if request.callback_event_id and request.callback_event_id in state.callback_events:
        return Refusal(status=409, code="replayed", detail="this callback was already applied")
    earlier = find_decision(state, request.decision_id)
    if earlier is not None and earlier.request_digest != request.request_digest:
        return Refusal(
            status=422,
            code="idempotency_key_reused",
            detail="this Idempotency-Key was used for a different decision",
            field="Idempotency-Key",
        )
    if earlier is not None:
        return None  # the same request again: answered with the state, recorded once
    if not protocol.allows(state.stage, kind):
        return Refusal(
            status=409,
            code="not_allowed_in_stage",
            detail=f"{kind} is not allowed while the incident is {state.stage}",
            stage=state.stage,
            allowed=protocol.allowed_in(state.stage),
        )
    return DECISIONS[kind].refuse(Verdict(state, protocol, request, request.decision, now))


def apply_decision(
    state: IncidentState, protocol: CrisisProtocol, request: DecisionRequest, now: datetime
) -> tuple[IncidentState, Effects]:
    """The state after the decision, and what it orders. Call only when `refusal` is None.
    The same request again (a retry after a lost answer) changes nothing."""
    if find_decision(state, request.decision_id) is not None:
        return state, Effects()
    decision = request.decision
    change = Change(state.model_copy(deep=True), protocol, request, decision, now)
    detail = DECISIONS[DecisionKind(decision.kind)].apply(change)
    # A reclassified incident is settled (alarms, allowed decisions) under its new protocol.
    protocol = change.effects.protocol or protocol
    s = change.state
    s.decisions.append(
        DecisionEntry(
            decision_id=request.decision_id,
            kind=DecisionKind(decision.kind),
            actor_id=request.actor.staff_id,
            actor_role=str(request.actor.role),
            at=now,
            detail={k: plain(v) for k, v in detail.items()},
            documentation=decision.documentation(),
            request_digest=request.request_digest,
        )
    )
    s.updated_at = now
    s.revision += 1
    return settle(s, protocol, now), change.effects


def record_acknowledgement(
    state: IncidentState, protocol: CrisisProtocol, ack: Acknowledgement, now: datetime
) -> tuple[IncidentState, LadderSummary | None]:
    """A recipient acknowledged (link, SMS reply): the ladder it belongs to, if any. The
    client's own acknowledgement of a lost-contact message ends the lost-contact protocol,
    below high risk."""
    s = state.model_copy(deep=True)
    ladder = acknowledge_on_ladder(s, ack.recipient_id, ack.ladder_id, ack.via, now)
    # At high risk the client's own click is recorded but a clinician ends the protocol.
    if (
        ladder is not None
        and ladder.purpose is LadderPurpose.LOST_CONTACT
        and not at_least(s.risk_level, RiskLevel.HIGH)
    ):
        restore_contact(s)
    s.updated_at = now
    s.revision += 1
    return settle(s, protocol, now), ladder


def record_ladder_result(
    state: IncidentState, result: LadderResult, now: datetime
) -> IncidentState:
    s = state.model_copy(deep=True)
    for ladder in s.ladders:
        if ladder.ladder_id == result.ladder_id:
            ladder.status = result.status
            ladder.ended_at = ladder.ended_at or now
            ladder.acknowledged_by = ladder.acknowledged_by or result.acknowledged_by
            ladder.acknowledged_via = ladder.acknowledged_via or result.acknowledged_via
    s.updated_at = now
    s.revision += 1
    return s


def followup_started(state: IncidentState, now: datetime) -> IncidentState:
    s = state.model_copy(deep=True)
    s.followup_started = True
    advance(s, Stage.FOLLOW_UP)
    s.allowed_decisions = []  # recomputed by settle
    s.updated_at = now
    s.revision += 1
    return s


def followup_finished(state: IncidentState, now: datetime) -> IncidentState:
    """The follow-up ended (settled, cancelled or failed): it no longer holds the incident."""
    s = state.model_copy(deep=True)
    s.followup_running = False
    s.updated_at = now
    s.revision += 1
    return s


def followup_needs_care(
    state: IncidentState, protocol: CrisisProtocol, now: datetime
) -> tuple[IncidentState, PageOrder]:
    """A follow-up reached the client and they need care: clinical work reopens, the owner is
    paged."""
    s = state.model_copy(deep=True)
    if not s.stage.is_final:
        s.stage = Stage.ASSESSING
    s.updated_at = now
    s.revision += 1
    page = PageOrder(
        page_id=f"followup-needs-care-{s.revision}",
        reason="a follow-up found the client needs care again; clinical work is reopened",
        target=PageTarget.STAFF,
        staff_id=s.owner_id,
        ordered_at=now,
    )
    return settle(s, protocol, now), page


def followup_welfare_check(
    state: IncidentState, protocol: CrisisProtocol, now: datetime
) -> tuple[IncidentState, PageOrder]:
    """Follow-ups went unanswered in a row: a welfare check (a dispatch) is required."""
    s = state.model_copy(deep=True)
    s.welfare_check_required = True
    s.dispatch_required_since = None  # a new requirement, with its own clock
    require_dispatch(s, now)
    s.updated_at = now
    s.revision += 1
    page = PageOrder(
        page_id=f"followup-welfare-check-{s.revision}",
        reason="follow-ups went unanswered; a welfare check is required",
        target=PageTarget.ON_CALL_SUPERVISOR,
        ordered_at=now,
    )
    return settle(s, protocol, now), page


def close_after_followup(
    state: IncidentState, protocol: CrisisProtocol, now: datetime
) -> IncidentState | None:
    """Every follow-up task is settled: the incident closes itself, unless clinical work was
    reopened (then a person closes it)."""
    if state.stage is not Stage.FOLLOW_UP:
        return None
    s = state.model_copy(deep=True)
    s.stage = Stage.CLOSED
    s.ended_at = now
    s.updated_at = now
    s.revision += 1
    return settle(s, protocol, now)


def record_sos_press(
    state: IncidentState, protocol: CrisisProtocol, press: SosPress
) -> IncidentState:
    s = state.model_copy(deep=True)
    s.sos_presses += 1
    if press.location is not None:
        s.location = press.location
    s.updated_at = press.at
    s.revision += 1
    return settle(s, protocol, press.at)
