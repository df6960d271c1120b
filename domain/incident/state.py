"""The incident as plain data: its opening, its live state, what it orders, why it refuses.

The workflow holds one `IncidentState`; `domain.incident.machine` changes it, `alarms` keeps its
timers, and each decision kind's module (`domain.decisions`) says what that kind does to it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.audit import AuditEntry
from domain.disclosure import Part2Documentation
from domain.dispatch import DispatchOrder
from domain.followup import FollowUpPlan
from domain.location import Location
from domain.notification import Acknowledgement, LadderPlan, LadderPurpose, LadderStatus
from domain.protocols.base import CrisisProtocol
from domain.signed import SignedMessage
from domain.vocabulary import (
    CrisisType,
    DecisionKind,
    DeescalationOutcome,
    DispatchStatus,
    RiskLevel,
    Role,
    Stage,
)

_UNDER_WAY = (DispatchStatus.REQUESTED, DispatchStatus.EN_ROUTE, DispatchStatus.ARRIVED)


class Actor(BaseModel):
    """Who decided: a staff member with their role, or the system itself."""

    model_config = ConfigDict(frozen=True)

    staff_id: str
    role: Role | Literal["system"]
    program_id: UUID


class IncidentOpening(SignedMessage):
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
    # A digest of the opening request: the same Idempotency-Key with another body is refused.
    request_digest: str | None = None
    # Set when the workflow continued as new: the state it carries on from.
    carried: IncidentCarry | None = None


class SosPress(SignedMessage):
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
    reached_target: str | None = None


class UnreachableEntry(BaseModel):
    """Someone a page or a notification could not reach, and why (PHI-free)."""

    at: datetime
    page_id: str
    target: str
    recipient_id: str | None = None
    channel: str | None = None
    reason: str


# The state keeps the newest page records; every page is also in the case file.
PAGES_KEPT = 50
UNREACHABLE_KEPT = 100


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
    cancel_followup: bool = False
    # The incident was reclassified: this protocol applies from now on.
    protocol: CrisisProtocol | None = None


class DecisionEntry(BaseModel):
    decision_id: UUID
    kind: DecisionKind
    actor_id: str
    actor_role: str
    at: datetime
    detail: dict[str, Any]
    # What the clinician wrote (notes, justification, a note's text, a reason): clinical
    # detail, shown to clinical roles, never sent to a dispatch provider or a log.
    documentation: dict[str, str] = Field(default_factory=dict)
    # A digest of the request: the same decision id with another body is a reused key.
    request_digest: str | None = None


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
    # When it was transported or cancelled: a dispatch answers any requirement raised before.
    ended_at: datetime | None = None

    @property
    def under_way(self) -> bool:
        return self.status in _UNDER_WAY


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
    # What could not be done: pages and notifications that reached nobody of their target.
    unreachable: list[UnreachableEntry] = Field(default_factory=list)
    # The case file could not be written (a data error): the workflow carries on regardless.
    projection_error: str | None = None
    # A follow-up that outlives a close keeps the workflow until its tasks settle.
    followup_running: bool = False
    # What the close stopped (ladders, follow-up tasks), for the answer and the record.
    stopped_by_close: list[str] = Field(default_factory=list)
    request_digest: str | None = None

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
        """A dispatch answers the requirement if it was not cancelled and was still under way
        when the requirement arose (or started since): a 911 call made before the assessment
        answers the "dispatch required" that the assessment raises, even once transported."""
        since = self.dispatch_required_since
        return any(
            d.ended_at is None or since is None or d.ended_at >= since
            for d in self.dispatches
            if d.status is not DispatchStatus.CANCELLED
        )

    def alarm(self, name: AlarmName, key: str = "") -> Alarm | None:
        return next((a for a in self.alarms if a.name is name and a.key == key), None)


class IncidentCarry(BaseModel):
    """What a continued-as-new run takes over: the state and the work still ordered."""

    state: IncidentState
    pages: list[PageOrder] = Field(default_factory=list)
    dispatches: list[DispatchOrder] = Field(default_factory=list)
    unprojected: list[DecisionEntry] = Field(default_factory=list)
    audit: list[AuditEntry] = Field(default_factory=list)
    projected_revision: int = -1


IncidentOpening.model_rebuild()


class Refusal(BaseModel):
    """Why a decision is refused: `conflict` (409, not now) or `invalid` (422, wrong body)."""

    status: int
    code: str
    detail: str
    field: str | None = None
    stage: Stage | None = None
    allowed: list[DecisionKind] = Field(default_factory=list)


def workflow_id_for(incident_id: UUID) -> str:
    return f"incident-{incident_id}"
