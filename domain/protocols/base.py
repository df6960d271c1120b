"""The shape of a crisis protocol and the defaults every crisis type starts from."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from domain.instruments import DEFAULT_CIWA_AR_BANDS, DEFAULT_COWS_BANDS, ScoreBands
from domain.vocabulary import CrisisType, DecisionKind, Instrument, RiskLevel, Stage

K = DecisionKind

ALWAYS = frozenset({K.NOTE, K.ESCALATE, K.REASSIGN, K.CLOSE, K.RECLASSIFY})
CLINICAL_WORK = frozenset(
    {
        K.ASSESSMENT,
        K.DEESCALATION,
        K.NOTIFY_CONTACTS,
        K.DISPATCH,
        K.CONTACT_LOST,
        K.CONTACT_RESTORED,
        K.CONTACT_REACHED,
    }
)

DEFAULT_STAGE_DECISIONS: dict[Stage, frozenset[DecisionKind]] = {
    Stage.OPEN: ALWAYS | CLINICAL_WORK | {K.CANCEL},
    Stage.ASSESSING: ALWAYS | CLINICAL_WORK | {K.DISPOSITION},
    Stage.DEESCALATING: ALWAYS | CLINICAL_WORK | {K.DISPOSITION},
    Stage.RESPONDING: ALWAYS | CLINICAL_WORK | {K.DISPATCH_UPDATE, K.DISPOSITION},
    Stage.STABILIZED: ALWAYS | {K.DISPATCH_UPDATE, K.CONTACT_REACHED},
    # A welfare check after repeated unanswered follow-ups is a dispatch from this stage.
    Stage.FOLLOW_UP: ALWAYS | {K.DISPATCH, K.DISPATCH_UPDATE},
    Stage.CLOSED: frozenset(),
    Stage.CANCELLED: frozenset(),
}


class EscalationPolicy(BaseModel):
    """Who is paged when a timer runs out, and how often until someone acts."""

    model_config = ConfigDict(frozen=True)

    # A repeated alarm backs off: the waits after its 1st, 2nd, ... page, then `then_every`.
    backoff: tuple[timedelta, ...] = (
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
    )
    then_every: timedelta = timedelta(hours=1)
    # After this many pages to the on-call supervisor, every supervisor of the program is paged.
    widen_after_pages: int = Field(default=2, ge=1)

    def repeat_after(self, pages_sent: int) -> timedelta:
        """How long after its `pages_sent`-th page an unanswered alarm pages again."""
        if 1 <= pages_sent <= len(self.backoff):
            return self.backoff[pages_sent - 1]
        return self.then_every


class CrisisProtocol(BaseModel):
    model_config = ConfigDict(frozen=True)

    crisis_type: CrisisType
    version: str
    instruments: tuple[Instrument, ...]
    stage_decisions: dict[Stage, frozenset[DecisionKind]] = DEFAULT_STAGE_DECISIONS
    assessment_window: timedelta = timedelta(minutes=5)
    dispatch_window: timedelta = timedelta(minutes=2)
    dispatch_confirm_window: timedelta = timedelta(minutes=15)
    contact_ack_window: timedelta = timedelta(minutes=5)
    lost_contact_window: timedelta = timedelta(minutes=10)
    # Presses of the SOS button this close together join one incident.
    sos_join_window: timedelta = timedelta(minutes=15)
    # Risk at or above this makes a dispatch required.
    dispatch_required_at: RiskLevel = RiskLevel.IMMINENT
    # A failed de-escalation at or above this risk makes a dispatch required.
    failed_deescalation_dispatch_at: RiskLevel = RiskLevel.HIGH
    requires_safety_plan: bool = False
    followup_schedule: tuple[timedelta, ...] = (
        timedelta(hours=24),
        timedelta(hours=72),
        timedelta(days=7),
        timedelta(days=30),
    )
    followup_grace: timedelta = timedelta(hours=4)
    escalation: EscalationPolicy = EscalationPolicy()
    ciwa_ar_bands: ScoreBands = DEFAULT_CIWA_AR_BANDS
    cows_bands: ScoreBands = DEFAULT_COWS_BANDS

    @field_serializer("stage_decisions", when_used="json")
    def _stage_decisions_in_order(
        self, value: dict[Stage, frozenset[DecisionKind]]
    ) -> dict[str, list[str]]:
        # A set's order is not stable across processes: the same protocol serialises the same
        # (a reclassify carries one in its signed request).
        return {str(stage): sorted(kinds) for stage, kinds in value.items()}

    def allows(self, stage: Stage, kind: DecisionKind) -> bool:
        return kind in self.stage_decisions.get(stage, frozenset())

    def allowed_in(self, stage: Stage) -> list[DecisionKind]:
        return sorted(self.stage_decisions.get(stage, frozenset()))
