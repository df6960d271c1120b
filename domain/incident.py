"""The incident state machine as plain data and pure rules.

The incident workflow holds one `IncidentState`, asks `refusal()` whether a decision may be
made, and `apply_decision()` to make it; `arm_alarms()` keeps the protocol's timers in step with
the state. Nothing here touches a clock or I/O: time is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from domain.decisions import (
    DECISION_ROLES,
    Actor,
    Assessment,
    Cancel,
    Close,
    ContactLost,
    ContactReached,
    ContactRestored,
    DecisionRequest,
    Deescalation,
    DispatchRequest,
    DispatchUpdate,
    Disposition,
    Escalate,
    Location,
    Note,
    NotifyContacts,
    Reassign,
)
from domain.disclosure import DisclosurePlan, Part2Documentation, plan_disclosure
from domain.dispatch import CLINICIAN_CALLED_SERVICES, NEEDS_RESOURCE, DispatchOrder
from domain.followup import FollowUpPlan
from domain.notification import (
    Acknowledgement,
    LadderPlan,
    LadderPolicy,
    LadderPurpose,
    LadderRecipient,
    LadderResult,
    LadderStatus,
    RecipientType,
)
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import (
    CrisisType,
    DecisionKind,
    DeescalationOutcome,
    DispatchService,
    DispatchStatus,
    RiskLevel,
    Role,
    Stage,
)

_UNDER_WAY = (DispatchStatus.REQUESTED, DispatchStatus.EN_ROUTE, DispatchStatus.ARRIVED)

_STAGE_ORDER = [
    Stage.OPEN,
    Stage.ASSESSING,
    Stage.DEESCALATING,
    Stage.RESPONDING,
    Stage.STABILIZED,
    Stage.FOLLOW_UP,
]


class IncidentOpening(BaseModel):
    """The workflow's start input: everything known when the incident opens."""

    incident_id: UUID
    program_id: UUID
    client_id: UUID
    crisis_type: CrisisType
    summary: str
    location: Location | None = None
    owner_id: UUID
    opened_by: Actor
    opened_at: datetime
    protocol: CrisisProtocol
    idempotency_key: str | None = None
    # `sos`: the client pressed the emergency button; the owner is the on-call clinician.
    origin: Literal["clinician", "sos"] = "clinician"


class SosPress(BaseModel):
    """Another press of the SOS button, joined to the open incident."""

    at: datetime
    location: Location | None = None


class AlarmName(StrEnum):
    ASSESSMENT_OVERDUE = "assessment_overdue"
    DISPATCH_OVERDUE = "dispatch_overdue"
    DISPATCH_UNCONFIRMED = "dispatch_unconfirmed"
    SOS_UNANSWERED = "sos_unanswered"
    CONTACT_LOST = "contact_lost"


class Alarm(BaseModel):
    """A protocol timer that pages when it runs out, and again on the policy until cleared."""

    name: AlarmName
    key: str = ""  # which dispatch, for an alarm that runs per dispatch
    armed_at: datetime
    due_at: datetime
    pages_sent: int = 0


class PageTarget(StrEnum):
    ON_CALL_SUPERVISOR = "on_call_supervisor"
    ALL_SUPERVISORS = "all_supervisors"
    FOLLOWUP_QUEUE = "followup_queue"
    # One staff member (`PageOrder.staff_id`), such as the assignee of a follow-up task.
    STAFF = "staff"


class PageOrder(BaseModel):
    """A page the workflow must send: why, to whom, and a key so a retry never pages twice."""

    page_id: str
    reason: str
    target: PageTarget
    ordered_at: datetime
    staff_id: UUID | None = None


class PageRecord(BaseModel):
    page_id: str
    reason: str
    target: PageTarget
    at: datetime
    recipients: list[str] = Field(default_factory=list)
    channel: str | None = None
    delivered: bool = False


class LadderSummary(BaseModel):
    """A contact ladder the incident started, and how it ended."""

    ladder_id: UUID
    purpose: LadderPurpose
    recipient_ids: list[UUID]
    basis: str | None = None
    status: LadderStatus = LadderStatus.RUNNING
    started_at: datetime
    acknowledged_by: UUID | None = None
    acknowledged_via: str | None = None
    ended_at: datetime | None = None


class Effects(BaseModel):
    """What a decision asks the workflow to do beyond changing state."""

    pages: list[PageOrder] = Field(default_factory=list)
    ladders: list[LadderPlan] = Field(default_factory=list)
    acknowledgements: list[Acknowledgement] = Field(default_factory=list)
    dispatches: list[DispatchOrder] = Field(default_factory=list)
    followup: FollowUpPlan | None = None
    stop_ladders: list[UUID] = Field(default_factory=list)


class DecisionEntry(BaseModel):
    decision_id: UUID
    kind: DecisionKind
    actor_id: str
    actor_role: str
    at: datetime
    detail: dict[str, Any]


class DispatchState(BaseModel):
    dispatch_id: UUID
    service: str
    resource_id: UUID | None
    status: DispatchStatus
    requested_at: datetime
    requested_by: str
    reference: str | None = None
    destination: str | None = None
    eta_minutes: int | None = None
    reason: str = ""


class AssessmentSummary(BaseModel):
    instrument: str
    computed_risk: RiskLevel | None
    risk_level: RiskLevel
    total: int | None = None
    band: str | None = None
    overridden: bool = False
    at: datetime


class IncidentState(BaseModel):
    """The live state of one incident; the workflow is its only writer."""

    incident_id: UUID
    workflow_id: str
    program_id: UUID
    client_id: UUID
    crisis_type: CrisisType
    stage: Stage = Stage.OPEN
    risk_level: RiskLevel | None = None
    owner_id: UUID
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    protocol_version: str
    summary: str
    location: Location | None = None
    assessments: list[AssessmentSummary] = Field(default_factory=list)
    deescalation_outcome: DeescalationOutcome | None = None
    imminent_since: datetime | None = None
    dispatch_required_since: datetime | None = None
    contact_lost: bool = False
    contact_lost_since: datetime | None = None
    welfare_check_required: bool = False
    origin: str = "clinician"
    sos_presses: int = 0
    callback_events: list[str] = Field(default_factory=list)
    # Incidents opened before dispatch packets and confirmations existed replay without them.
    dispatch_tracking: bool = False
    # Likewise for follow-up tasks started on disposition.
    followup_tracking: bool = False
    safety_plan: dict[str, Any] | None = None
    followup_started: bool = False
    disposition: str | None = None
    dispatches: list[DispatchState] = Field(default_factory=list)
    decisions: list[DecisionEntry] = Field(default_factory=list)
    alarms: list[Alarm] = Field(default_factory=list)
    pages: list[PageRecord] = Field(default_factory=list)
    ladders: list[LadderSummary] = Field(default_factory=list)
    part2_disclosures: list[Part2Documentation] = Field(default_factory=list)
    allowed_decisions: list[DecisionKind] = Field(default_factory=list)
    revision: int = 0

    @property
    def required_steps(self) -> list[DecisionKind]:
        steps = []
        if not self.assessments and not self.stage.is_final:
            steps.append(DecisionKind.ASSESSMENT)
        if self.dispatch_required_since is not None and not self.has_active_dispatch:
            steps.append(DecisionKind.DISPATCH)
        return steps

    @property
    def has_active_dispatch(self) -> bool:
        """A dispatch answers the requirement if it is under way, or was sent since."""
        since = self.dispatch_required_since
        return any(
            d.status in _UNDER_WAY or (since is not None and d.requested_at >= since)
            for d in self.dispatches
            if d.status is not DispatchStatus.CANCELLED
        )

    def alarm(self, name: AlarmName, key: str = "") -> Alarm | None:
        return next((a for a in self.alarms if a.name is name and a.key == key), None)


def workflow_id_for(incident_id: UUID) -> str:
    return f"incident-{incident_id}"


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
    )
    return settle(state, opening.protocol, now)


class Refusal(BaseModel):
    """Why a decision is refused: `conflict` (409, not now) or `invalid` (422, wrong body)."""

    status: int
    code: str
    detail: str
    field: str | None = None
    stage: Stage | None = None
    allowed: list[DecisionKind] = Field(default_factory=list)


def refusal(
    state: IncidentState, protocol: CrisisProtocol, request: DecisionRequest, now: datetime
) -> Refusal | None:
    """The reason this decision cannot be made now, or None when it can."""
    decision = request.decision
    kind = DecisionKind(decision.kind)
    actor = request.actor
    if actor.program_id != state.program_id:
        return Refusal(status=404, code="not_found", detail="no such incident")
    # A dispatch provider's signed callback is the one decision the system itself records.
    provider_update = actor.role == "system" and kind is DecisionKind.DISPATCH_UPDATE
    if not provider_update and (
        actor.role == "system" or Role(actor.role) not in DECISION_ROLES[kind]
    ):
        return Refusal(
            status=403, code="forbidden_role", detail=f"a {actor.role} may not record {kind}"
        )
    if any(entry.decision_id == request.decision_id for entry in state.decisions):
        return Refusal(status=409, code="duplicate", detail="this decision is already recorded")
    if request.callback_event_id and request.callback_event_id in state.callback_events:
        return Refusal(status=409, code="replayed", detail="this callback was already applied")
    allowed = protocol.allowed_in(state.stage)
    if not protocol.allows(state.stage, kind):
        return Refusal(
            status=409,
            code="not_allowed_in_stage",
            detail=f"{kind} is not allowed while the incident is {state.stage}",
            stage=state.stage,
            allowed=allowed,
        )

    def conflict(detail: str, code: str, field: str | None = None) -> Refusal:
        return Refusal(
            status=409, code=code, detail=detail, field=field, stage=state.stage, allowed=allowed
        )

    def invalid(detail: str, field: str) -> Refusal:
        return Refusal(status=422, code="invalid", detail=detail, field=field)

    match decision:
        case Assessment() if decision.instrument not in protocol.instruments:
            return invalid(
                f"{decision.instrument} is not an instrument of the {state.crisis_type} protocol "
                f"(use one of {', '.join(protocol.instruments)})",
                "instrument",
            )
        case DispatchRequest() if decision.service in NEEDS_RESOURCE and not decision.resource_id:
            return invalid(
                f"a {decision.service} dispatch needs a resource from the directory", "resource_id"
            )
        case DispatchRequest() if decision.location is None and state.location is None:
            return conflict(
                "dispatch needs the client's location: record it with the dispatch",
                "location_required",
                "location",
            )
        case DispatchUpdate():
            dispatch = _dispatch(state, decision.dispatch_id)
            if dispatch is None:
                return invalid("no such dispatch on this incident", "dispatch_id")
            if dispatch.status in (DispatchStatus.TRANSPORTED, DispatchStatus.CANCELLED):
                return conflict(f"the dispatch is already {dispatch.status}", "dispatch_ended")
        case Disposition():
            missing = [s for s in state.required_steps if s is not DecisionKind.ASSESSMENT]
            if not state.assessments:
                return conflict("record an assessment before the disposition", "required_step")
            if missing:
                return conflict(
                    f"{', '.join(missing)} is required before the disposition",
                    "required_step",
                )
            if protocol.requires_safety_plan and decision.safety_plan is None:
                return invalid(
                    f"the {state.crisis_type} protocol requires a Stanley-Brown safety plan",
                    "safety_plan",
                )
        case NotifyContacts():
            return _disclosure_refusal(state, request, now, conflict, invalid)
        case ContactReached() if not _ladder_with(state, decision.contact_id):
            return invalid("this contact is not being notified", "contact_id")
        case ContactLost() if not request.client_channels:
            return conflict(
                "the client has no phone or email on file to reach them by", "client_unreachable"
            )
        case ContactLost() if state.contact_lost:
            return conflict(
                "contact is already lost; record contact_restored first", "contact_lost"
            )
        case ContactRestored() if not state.contact_lost:
            return conflict("contact was not lost", "contact_not_lost")
        case Reassign() if decision.owner_id == state.owner_id:
            return invalid("the incident already has this owner", "owner_id")
        case _:
            pass
    return None


def apply_decision(
    state: IncidentState, protocol: CrisisProtocol, request: DecisionRequest, now: datetime
) -> tuple[IncidentState, Effects]:
    """The state after the decision, and what it orders. Call only when `refusal` is None."""
    s = state.model_copy(deep=True)
    decision = request.decision
    effects = Effects()
    pages = effects.pages
    detail: dict[str, Any] = {}
    match decision:
        case Assessment():
            result = decision.score(protocol)
            level = decision.risk_level(protocol)
            s.assessments.append(
                AssessmentSummary(
                    instrument=decision.instrument,
                    computed_risk=result.risk_level if result else None,
                    risk_level=level,
                    total=result.total if result else None,
                    band=result.band if result else None,
                    overridden=decision.risk_override is not None,
                    at=now,
                )
            )
            detail = {
                "instrument": decision.instrument,
                "computed_risk": result.risk_level if result else None,
                "risk_level": level,
                "total": result.total if result else None,
                "overridden": decision.risk_override is not None,
            }
            _set_risk(s, protocol, level, now)
            _advance(s, Stage.ASSESSING)
        case Deescalation():
            s.deescalation_outcome = decision.outcome
            detail = {"outcome": decision.outcome, "techniques": list(decision.techniques)}
            if decision.outcome is DeescalationOutcome.FAILED and _at_least(
                s.risk_level, protocol.failed_deescalation_dispatch_at
            ):
                _require_dispatch(s, now)
            _advance(s, Stage.DEESCALATING)
        case NotifyContacts():
            plan = _ladder_for(s, protocol, request, now)
            effects.ladders.append(plan)
            documentation = _disclosure_plan(s, request, now).part2_documentation
            s.part2_disclosures.extend(documentation)
            s.ladders.append(
                LadderSummary(
                    ladder_id=plan.ladder_id,
                    purpose=plan.purpose,
                    recipient_ids=[r.recipient_id for r in plan.recipients],
                    basis=decision.basis,
                    started_at=now,
                )
            )
            detail = {
                "ladder_id": str(plan.ladder_id),
                "contact_ids": [str(r.recipient_id) for r in plan.recipients],
                "basis": decision.basis,
                "part2_documentation": [d.model_dump(mode="json") for d in documentation],
            }
            _advance(s, Stage.RESPONDING)
        case ContactReached():
            effects.acknowledgements.append(
                Acknowledgement(recipient_id=decision.contact_id, via="clinician", at=now)
            )
            _record_acknowledgement(s, decision.contact_id, None, "clinician", now)
            detail = {"contact_id": str(decision.contact_id)}
        case DispatchRequest():
            if decision.location is not None:
                s.location = decision.location
            s.dispatches.append(
                DispatchState(
                    dispatch_id=request.decision_id,
                    service=decision.service,
                    resource_id=decision.resource_id,
                    status=DispatchStatus.REQUESTED,
                    requested_at=now,
                    requested_by=request.actor.staff_id,
                    reference=decision.reference,
                    reason=decision.reason,
                )
            )
            detail = {
                "dispatch_id": str(request.decision_id),
                "service": decision.service,
                "reason": decision.reason,
                "reference": decision.reference,
            }
            if s.dispatch_tracking:
                effects.dispatches.append(_dispatch_order(s, s.dispatches[-1], attempt=1))
            _advance(s, Stage.RESPONDING)
        case DispatchUpdate():
            dispatch = _dispatch(s, decision.dispatch_id)
            assert dispatch is not None
            dispatch.status = DispatchStatus(decision.status)
            dispatch.eta_minutes = decision.eta_minutes
            dispatch.destination = decision.destination or dispatch.destination
            if request.callback_event_id:
                s.callback_events.append(request.callback_event_id)
            detail = {"dispatch_id": str(decision.dispatch_id), "status": decision.status}
        case Disposition():
            s.disposition = decision.outcome
            if decision.safety_plan is not None:
                s.safety_plan = decision.safety_plan.model_dump()
            detail = {"outcome": decision.outcome, "safety_plan": decision.safety_plan is not None}
            _advance(s, Stage.STABILIZED)
            if s.followup_tracking and protocol.followup_schedule and not s.followup_started:
                effects.followup = FollowUpPlan(
                    incident_id=s.incident_id,
                    program_id=s.program_id,
                    client_id=s.client_id,
                    owner_id=s.owner_id,
                    risk_level=s.risk_level,
                    schedule=list(protocol.followup_schedule),
                    grace=protocol.followup_grace,
                    safety_plan=s.safety_plan,
                    starts_at=now,
                )
        case ContactLost():
            s.contact_lost = True
            s.contact_lost_since = now
            plan = _client_ladder(s, protocol, request)
            effects.ladders.append(plan)
            s.ladders.append(
                LadderSummary(
                    ladder_id=plan.ladder_id,
                    purpose=plan.purpose,
                    recipient_ids=[s.client_id],
                    started_at=now,
                )
            )
            detail = {"channel": decision.channel, "ladder_id": str(plan.ladder_id)}
        case ContactRestored():
            _contact_restored(s)
            effects.stop_ladders = [
                ladder.ladder_id
                for ladder in s.ladders
                if ladder.purpose is LadderPurpose.LOST_CONTACT
                and ladder.status is LadderStatus.RUNNING
            ]
        case Note():
            pass
        case Reassign():
            detail = {"from": str(s.owner_id), "to": str(decision.owner_id)}
            s.owner_id = decision.owner_id
        case Escalate():
            pages.append(
                PageOrder(
                    page_id=f"escalate-{request.decision_id}",
                    reason="escalated by clinician",
                    target=PageTarget.ON_CALL_SUPERVISOR,
                    ordered_at=now,
                )
            )
        case Close():
            s.stage = Stage.CLOSED
            s.ended_at = now
            effects.stop_ladders = _stop_running_ladders(s, now)
        case Cancel():
            s.stage = Stage.CANCELLED
            s.ended_at = now
            effects.stop_ladders = _stop_running_ladders(s, now)
    s.decisions.append(
        DecisionEntry(
            decision_id=request.decision_id,
            kind=DecisionKind(decision.kind),
            actor_id=request.actor.staff_id,
            actor_role=str(request.actor.role),
            at=now,
            detail={k: _plain(v) for k, v in detail.items()},
        )
    )
    s.updated_at = now
    s.revision += 1
    return settle(s, protocol, now), effects


def record_acknowledgement(
    state: IncidentState, protocol: CrisisProtocol, ack: Acknowledgement, now: datetime
) -> tuple[IncidentState, LadderSummary | None]:
    """A recipient acknowledged (link, SMS reply): the ladder it belongs to, if any. The
    client's own acknowledgement of a lost-contact message ends the lost-contact protocol."""
    s = state.model_copy(deep=True)
    ladder = _record_acknowledgement(s, ack.recipient_id, ack.ladder_id, ack.via, now)
    if ladder is not None and ladder.purpose is LadderPurpose.LOST_CONTACT:
        _contact_restored(s)
    s.updated_at = now
    s.revision += 1
    return settle(s, protocol, now), ladder


def followup_started(state: IncidentState, now: datetime) -> IncidentState:
    s = state.model_copy(deep=True)
    s.followup_started = True
    _advance(s, Stage.FOLLOW_UP)
    s.allowed_decisions = []  # recomputed by settle
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
    _require_dispatch(s, now)
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


def _running_ladders(s: IncidentState) -> list[UUID]:
    return [ladder.ladder_id for ladder in s.ladders if ladder.status is LadderStatus.RUNNING]


def _stop_running_ladders(s: IncidentState, now: datetime) -> list[UUID]:
    """An incident that ends stops its ladders: the record says so at once, since the workflow
    ends without waiting for their answers (a message not yet sent is not sent)."""
    stopping = _running_ladders(s)
    for ladder in s.ladders:
        if ladder.ladder_id in stopping:
            ladder.status, ladder.ended_at = LadderStatus.STOPPED, now
    return stopping


def _contact_restored(s: IncidentState) -> None:
    s.contact_lost = False
    s.contact_lost_since = None


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


def _record_acknowledgement(
    s: IncidentState, recipient_id: UUID, ladder_id: UUID | None, via: str, now: datetime
) -> LadderSummary | None:
    ladder = _ladder_with(s, recipient_id, ladder_id)
    if ladder is not None and ladder.acknowledged_by is None:
        ladder.acknowledged_by, ladder.acknowledged_via = recipient_id, via
        if ladder.status is LadderStatus.RUNNING:
            ladder.status = LadderStatus.ACKNOWLEDGED
            ladder.ended_at = now
    return ladder


def _ladder_with(
    s: IncidentState, recipient_id: UUID, ladder_id: UUID | None = None
) -> LadderSummary | None:
    """The newest ladder naming the recipient (the given one, when an ack names its ladder)."""
    for ladder in reversed(s.ladders):
        if recipient_id in ladder.recipient_ids and ladder_id in (None, ladder.ladder_id):
            return ladder
    return None


def _disclosure_plan(
    state: IncidentState, request: DecisionRequest, now: datetime
) -> DisclosurePlan:
    decision = request.decision
    assert isinstance(decision, NotifyContacts) and request.disclosure is not None
    on_file = {c.facts.contact_id: c for c in request.disclosure.contacts}
    return plan_disclosure(
        crisis_type=state.crisis_type,
        basis=decision.basis,
        contacts=[on_file[c].facts for c in decision.contact_ids if c in on_file],
        consents=request.disclosure.consents,
        now=now,
        disclosed_by=request.actor.staff_id,
        nature_of_emergency=decision.emergency_nature,
    )


def _disclosure_refusal(
    state: IncidentState,
    request: DecisionRequest,
    now: datetime,
    conflict: Callable[..., Refusal],
    invalid: Callable[[str, str], Refusal],
) -> Refusal | None:
    if request.disclosure is None:
        return invalid("the client's contacts and consents were not provided", "contact_ids")
    known = {c.facts.contact_id for c in request.disclosure.contacts}
    decision = request.decision
    assert isinstance(decision, NotifyContacts)
    unknown = [c for c in decision.contact_ids if c not in known]
    if unknown:
        return invalid(f"not an emergency contact of this client: {unknown[0]}", "contact_ids")
    plan = _disclosure_plan(state, request, now)
    if plan.refusals:
        first = plan.refusals[0]
        return conflict(
            f"contact {first.contact_id}: {first.detail}",
            f"disclosure_refused:{first.rule}",
            "basis",
        )
    return None


def _client_ladder(
    s: IncidentState, protocol: CrisisProtocol, request: DecisionRequest
) -> LadderPlan:
    """The lost-contact ladder: the client is the one to reach, on their own channels."""
    return LadderPlan(
        ladder_id=request.decision_id,
        incident_id=s.incident_id,
        program_id=s.program_id,
        purpose=LadderPurpose.LOST_CONTACT,
        recipients=[
            LadderRecipient(
                recipient_type=RecipientType.CLIENT,
                recipient_id=s.client_id,
                channels=request.client_channels or (),
            )
        ],
        # Each channel gets its share of the window; the window itself is the alarm's.
        policy=LadderPolicy(
            ack_window=protocol.lost_contact_window / max(len(request.client_channels or ()), 1)
        ),
    )


def _ladder_for(
    state: IncidentState, protocol: CrisisProtocol, request: DecisionRequest, now: datetime
) -> LadderPlan:
    decision = request.decision
    assert isinstance(decision, NotifyContacts) and request.disclosure is not None
    chosen = [c for c in request.disclosure.contacts if c.facts.contact_id in decision.contact_ids]
    chosen.sort(key=lambda c: (c.priority, decision.contact_ids.index(c.facts.contact_id)))
    return LadderPlan(
        ladder_id=request.decision_id,
        incident_id=state.incident_id,
        program_id=state.program_id,
        purpose=LadderPurpose.EMERGENCY_CONTACT,
        recipients=[
            LadderRecipient(
                recipient_type=RecipientType.CONTACT,
                recipient_id=c.facts.contact_id,
                channels=c.channels,
            )
            for c in chosen
        ],
        policy=LadderPolicy(ack_window=protocol.contact_ack_window),
    )


def settle(state: IncidentState, protocol: CrisisProtocol, now: datetime) -> IncidentState:
    """Bring the derived parts of the state (alarms, allowed decisions) in step with it."""
    state.allowed_decisions = protocol.allowed_in(state.stage)
    return arm_alarms(state, protocol, now)


def arm_alarms(state: IncidentState, protocol: CrisisProtocol, now: datetime) -> IncidentState:
    """Arm the protocol's timers whose condition holds; drop those whose condition cleared."""
    wanted: dict[tuple[AlarmName, str], tuple[datetime, timedelta]] = {}
    if not state.stage.is_final:
        if not state.assessments:
            # Armed once, when the incident opens; an armed alarm keeps its clock.
            wanted[AlarmName.ASSESSMENT_OVERDUE, ""] = (now, protocol.assessment_window)
        if state.dispatch_required_since is not None and not state.has_active_dispatch:
            wanted[AlarmName.DISPATCH_OVERDUE, ""] = (
                state.dispatch_required_since,
                protocol.dispatch_window,
            )
        if state.origin == "sos" and not any(d.actor_role != "system" for d in state.decisions):
            wanted[AlarmName.SOS_UNANSWERED, ""] = (now, timedelta(0))
        if state.contact_lost and state.contact_lost_since is not None:
            wanted[AlarmName.CONTACT_LOST, ""] = (
                state.contact_lost_since,
                protocol.lost_contact_window,
            )
        for dispatch in state.dispatches if state.dispatch_tracking else []:
            if dispatch.status is DispatchStatus.REQUESTED:
                wanted[AlarmName.DISPATCH_UNCONFIRMED, str(dispatch.dispatch_id)] = (
                    dispatch.requested_at,
                    protocol.dispatch_confirm_window,
                )
    alarms = [a for a in state.alarms if (a.name, a.key) in wanted]
    for (name, key), (armed_at, window) in wanted.items():
        if state.alarm(name, key) is None:
            alarms.append(Alarm(name=name, key=key, armed_at=armed_at, due_at=armed_at + window))
    state.alarms = sorted(alarms, key=lambda a: a.due_at)
    return state


def sound_due_alarms(
    state: IncidentState, protocol: CrisisProtocol, now: datetime
) -> tuple[IncidentState, Effects]:
    """Page for every alarm that is due and set it to repeat on the escalation policy; an
    unconfirmed dispatch also has its packet sent to the provider again."""
    s = state.model_copy(deep=True)
    effects = Effects()
    for alarm in s.alarms:
        if alarm.due_at > now:
            continue
        alarm.pages_sent += 1
        widened = alarm.pages_sent > protocol.escalation.widen_after_pages
        target = PageTarget.ALL_SUPERVISORS if widened else PageTarget.ON_CALL_SUPERVISOR
        staff_id = None
        if alarm.name is AlarmName.SOS_UNANSWERED and not widened:
            target, staff_id = PageTarget.STAFF, s.owner_id
        if alarm.name is AlarmName.CONTACT_LOST and _at_least(s.risk_level, RiskLevel.HIGH):
            # Not reached in time at high risk: a welfare check at the last known location.
            s.welfare_check_required = True
            _require_dispatch(s, now)
        label = f"{alarm.name}-{alarm.key}" if alarm.key else str(alarm.name)
        reason = _ALARM_REASONS[alarm.name]
        if alarm.name is AlarmName.DISPATCH_UNCONFIRMED:
            unconfirmed = _dispatch(s, UUID(alarm.key))
            assert unconfirmed is not None  # the alarm is armed per existing dispatch
            order = _dispatch_order(s, unconfirmed, attempt=alarm.pages_sent + 1)
            if order.service in CLINICIAN_CALLED_SERVICES:
                reason = f"{order.service} response not confirmed en route; call the PSAP back"
            else:
                effects.dispatches.append(order)
        effects.pages.append(
            PageOrder(
                page_id=f"{label}-{alarm.pages_sent}",
                reason=reason,
                target=target,
                ordered_at=now,
                staff_id=staff_id,
            )
        )
        alarm.due_at = now + protocol.escalation.repeat_every
    return arm_alarms(s, protocol, now), effects


def next_alarm_in(state: IncidentState, now: datetime) -> timedelta | None:
    if not state.alarms:
        return None
    return max(state.alarms[0].due_at - now, timedelta(0))


_ALARM_REASONS = {
    AlarmName.ASSESSMENT_OVERDUE: "no assessment within the protocol's window",
    AlarmName.DISPATCH_OVERDUE: "dispatch required and not started",
    AlarmName.DISPATCH_UNCONFIRMED: "dispatch not confirmed en route; re-sent to the provider",
    AlarmName.SOS_UNANSWERED: "the client pressed the SOS button; nobody has acted yet",
    AlarmName.CONTACT_LOST: "contact with the client is lost and they have not been reached",
}


def _dispatch_order(s: IncidentState, dispatch: DispatchState, attempt: int) -> DispatchOrder:
    """The packet order for a dispatch: its first send, or a re-send after no confirmation."""
    return DispatchOrder(
        incident_id=s.incident_id,
        program_id=s.program_id,
        dispatch_id=dispatch.dispatch_id,
        service=DispatchService(dispatch.service),
        resource_id=dispatch.resource_id,
        client_id=s.client_id,
        location=s.location,
        crisis_type=s.crisis_type,
        risk_level=s.risk_level,
        done_so_far=_done_so_far(s),
        requested_by=dispatch.requested_by,
        reason=dispatch.reason or "re-sent: not confirmed en route",
        attempt=attempt,
    )


def _done_so_far(s: IncidentState) -> list[str]:
    """What responders should know was done: decisions and their outcomes, never the notes."""
    lines = []
    for entry in s.decisions:
        facts = ", ".join(
            f"{k}={v}" for k, v in entry.detail.items() if isinstance(v, str | int) and v != ""
        )
        lines.append(f"{entry.at:%H:%M} {entry.kind}" + (f" ({facts})" if facts else ""))
    return lines


def _set_risk(s: IncidentState, protocol: CrisisProtocol, level: RiskLevel, now: datetime) -> None:
    s.risk_level = level
    if level is RiskLevel.IMMINENT:
        s.imminent_since = s.imminent_since or now
    else:
        s.imminent_since = None
    if level.at_least(protocol.dispatch_required_at):
        _require_dispatch(s, now)


def _require_dispatch(s: IncidentState, now: datetime) -> None:
    if s.dispatch_required_since is None:
        s.dispatch_required_since = now


def _advance(s: IncidentState, stage: Stage) -> None:
    """Stages only move forward: a reassessment while responding does not go back, and an
    ended incident stays ended (a child that started as it closed cannot reopen it)."""
    if s.stage.is_final:
        return
    if _STAGE_ORDER.index(stage) > _STAGE_ORDER.index(s.stage):
        s.stage = stage


def _at_least(level: RiskLevel | None, threshold: RiskLevel) -> bool:
    return level is not None and level.at_least(threshold)


def _dispatch(state: IncidentState, dispatch_id: UUID) -> DispatchState | None:
    return next((d for d in state.dispatches if d.dispatch_id == dispatch_id), None)


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
