"""What a clinician or supervisor can decide on an incident: one shape per decision kind.

The API parses these (a discriminated union on `kind`, 422 for a malformed body); the incident
workflow receives them inside a `DecisionRequest` and decides whether the protocol allows them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.disclosure import ConsentFacts, ContactFacts
from domain.instruments import (
    InstrumentError,
    InstrumentResult,
    score_ciwa_ar,
    score_cows,
    score_cssrs_screener,
    score_overdose_signs,
)
from domain.models.text import NulFreeText
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import (
    Channel,
    DecisionKind,
    DeescalationOutcome,
    DisclosureBasis,
    DispatchService,
    DispatchStatus,
    DispositionOutcome,
    Instrument,
    RiskLevel,
    Role,
)

_T = TypeVar("_T")

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Reason = Annotated[str, Field(min_length=3, max_length=2000)]


class _Decision(NulFreeText):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(NulFreeText):
    """Where the client is now: an address, a zip code, or coordinates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(default=None, min_length=3, max_length=300)
    zip: str | None = Field(default=None, pattern=r"^[0-9]{5}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something_to_find(self) -> Location:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon go together")
        if self.address is None and self.zip is None and self.lat is None:
            raise ValueError("give an address, a zip code, or lat and lon")
        return self


class Assessment(_Decision):
    kind: Literal[DecisionKind.ASSESSMENT] = DecisionKind.ASSESSMENT
    instrument: Instrument
    answers: dict[str, bool] | None = None
    scores: dict[str, int] | None = None
    signs: list[str] | None = None
    risk_override: RiskLevel | None = None
    justification: str | None = Field(default=None, max_length=4000)
    notes: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _scorable(self) -> Assessment:
        result = self.score(None)
        computed = result.risk_level if result else None
        overridden = self.risk_override is not None and self.risk_override != computed
        if overridden and len((self.justification or "").strip()) < 3:
            raise ValueError(
                "justification: a risk level that differs from the instrument's result "
                "needs a clinical justification (NPSG 15.01.01)"
            )
        if result is None and self.risk_override is None:
            raise ValueError("risk_override: clinical judgement needs a risk level")
        return self

    def score(self, protocol: CrisisProtocol | None) -> InstrumentResult | None:
        """The instrument's result with the protocol's bands (defaults when none is given)."""
        try:
            match self.instrument:
                case Instrument.CSSRS_SCREENER:
                    return score_cssrs_screener(_required(self.answers, "answers"))
                case Instrument.CIWA_AR:
                    scores = _required(self.scores, "scores")
                    if protocol is None:
                        return score_ciwa_ar(scores)
                    return score_ciwa_ar(scores, protocol.ciwa_ar_bands)
                case Instrument.COWS:
                    scores = _required(self.scores, "scores")
                    if protocol is None:
                        return score_cows(scores)
                    return score_cows(scores, protocol.cows_bands)
                case Instrument.OVERDOSE_SIGNS:
                    return score_overdose_signs(_required(self.signs, "signs"))
                case Instrument.CLINICAL_JUDGEMENT:
                    return None
        except InstrumentError as error:
            raise ValueError(f"{error.field}: {error.message}") from None

    def risk_level(self, protocol: CrisisProtocol | None) -> RiskLevel:
        result = self.score(protocol)
        if self.risk_override is not None:
            return self.risk_override
        assert result is not None  # guaranteed by _scorable
        return result.risk_level


def _required(value: _T | None, field: str) -> _T:
    if value is None:
        raise InstrumentError(field, "is required for this instrument")
    return value


class Deescalation(_Decision):
    kind: Literal[DecisionKind.DEESCALATION] = DecisionKind.DEESCALATION
    techniques: list[Annotated[str, Field(min_length=2, max_length=64)]] = Field(min_length=1)
    outcome: DeescalationOutcome
    notes: str | None = Field(default=None, max_length=4000)


class NotifyContacts(_Decision):
    kind: Literal[DecisionKind.NOTIFY_CONTACTS] = DecisionKind.NOTIFY_CONTACTS
    contact_ids: list[UUID] = Field(min_length=1, max_length=20)
    basis: DisclosureBasis
    emergency_nature: str | None = Field(default=None, max_length=500)


class DispatchRequest(_Decision):
    kind: Literal[DecisionKind.DISPATCH] = DecisionKind.DISPATCH
    service: DispatchService
    resource_id: UUID | None = None
    reason: Reason
    reference: str | None = Field(default=None, max_length=200)
    location: Location | None = None


class DispatchUpdate(_Decision):
    kind: Literal[DecisionKind.DISPATCH_UPDATE] = DecisionKind.DISPATCH_UPDATE
    dispatch_id: UUID
    status: Literal[
        DispatchStatus.EN_ROUTE,
        DispatchStatus.ARRIVED,
        DispatchStatus.TRANSPORTED,
        DispatchStatus.CANCELLED,
    ]
    eta_minutes: int | None = Field(default=None, ge=0, le=600)
    destination: str | None = Field(default=None, max_length=200)


class SafetyPlan(NulFreeText):
    """Stanley-Brown safety plan: its six sections."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warning_signs: list[str] = Field(min_length=1)
    internal_coping: list[str] = Field(min_length=1)
    social_distractions: list[str] = Field(min_length=1)
    people_to_ask: list[str] = Field(min_length=1)
    professionals: list[str] = Field(min_length=1)
    means_safety: list[str] = Field(min_length=1)


class Disposition(_Decision):
    kind: Literal[DecisionKind.DISPOSITION] = DecisionKind.DISPOSITION
    outcome: DispositionOutcome
    safety_plan: SafetyPlan | None = None
    notes: str | None = Field(default=None, max_length=4000)


class ContactLost(_Decision):
    kind: Literal[DecisionKind.CONTACT_LOST] = DecisionKind.CONTACT_LOST
    channel: Literal["video", "phone", "chat", "other"] = "video"
    lost_at: datetime | None = None
    notes: str | None = Field(default=None, max_length=4000)


class ContactReached(_Decision):
    """A notified contact called back or was reached another way: their ladder stops."""

    kind: Literal[DecisionKind.CONTACT_REACHED] = DecisionKind.CONTACT_REACHED
    contact_id: UUID
    how: Text


class ContactRestored(_Decision):
    kind: Literal[DecisionKind.CONTACT_RESTORED] = DecisionKind.CONTACT_RESTORED
    how: Text


class Note(_Decision):
    kind: Literal[DecisionKind.NOTE] = DecisionKind.NOTE
    text: Text


class Reassign(_Decision):
    kind: Literal[DecisionKind.REASSIGN] = DecisionKind.REASSIGN
    owner_id: UUID
    reason: Reason


class Escalate(_Decision):
    kind: Literal[DecisionKind.ESCALATE] = DecisionKind.ESCALATE
    reason: Reason


class Close(_Decision):
    kind: Literal[DecisionKind.CLOSE] = DecisionKind.CLOSE
    reason: Reason


class Cancel(_Decision):
    kind: Literal[DecisionKind.CANCEL] = DecisionKind.CANCEL
    reason: Reason


Decision = Annotated[
    Assessment
    | Deescalation
    | NotifyContacts
    | DispatchRequest
    | DispatchUpdate
    | Disposition
    | ContactLost
    | ContactRestored
    | ContactReached
    | Note
    | Reassign
    | Escalate
    | Close
    | Cancel,
    Field(discriminator="kind"),
]


class Actor(BaseModel):
    """Who decided: a staff member with their role, or the system itself."""

    model_config = ConfigDict(frozen=True)

    staff_id: str
    role: Role | Literal["system"]
    program_id: UUID


class ContactOnFile(BaseModel):
    """An emergency contact as the disclosure rules and the ladder need it."""

    facts: ContactFacts
    channels: tuple[Channel, ...]
    priority: int


class DisclosureContext(BaseModel):
    """The client's contacts and consents, read by the API for a `notify_contacts` decision;
    the workflow decides on them with the pure disclosure rules."""

    contacts: list[ContactOnFile]
    consents: list[ConsentFacts]


class DecisionRequest(BaseModel):
    """What the API sends to the incident workflow's update for one decision."""

    decision_id: UUID
    actor: Actor
    decision: Decision
    disclosure: DisclosureContext | None = None
    # Set when a dispatch provider's signed callback made this decision: applied once.
    callback_event_id: str | None = None
    # For `contact_lost`: the client's own channels (phone, email on file), read by the API.
    client_channels: tuple[Channel, ...] | None = None


# Which roles may make each decision (SPEC.md section 1); cancel has a stage rule on top.
CLINICAL = frozenset({Role.CLINICIAN, Role.SUPERVISOR})
DECISION_ROLES: dict[DecisionKind, frozenset[Role]] = {
    DecisionKind.ASSESSMENT: CLINICAL,
    DecisionKind.DEESCALATION: CLINICAL,
    DecisionKind.NOTIFY_CONTACTS: CLINICAL,
    DecisionKind.DISPATCH: CLINICAL,
    DecisionKind.DISPATCH_UPDATE: CLINICAL,
    DecisionKind.DISPOSITION: CLINICAL,
    DecisionKind.CONTACT_LOST: CLINICAL,
    DecisionKind.CONTACT_RESTORED: CLINICAL,
    DecisionKind.CONTACT_REACHED: CLINICAL,
    DecisionKind.NOTE: CLINICAL,
    DecisionKind.ESCALATE: CLINICAL,
    DecisionKind.REASSIGN: frozenset({Role.SUPERVISOR}),
    DecisionKind.CLOSE: frozenset({Role.SUPERVISOR}),
    DecisionKind.CANCEL: CLINICAL,
}
