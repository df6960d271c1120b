"""Decision kinds pinned to SPEC sections 1, 2 and 2b: who may record each, when each is refused,
and what each changes. Risk thresholds are written as the spec states them, and every
risk-dependent rule is checked on both sides of its threshold.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from uuid import uuid4

import pytest
from pydantic import ValidationError

import domain.decisions as decisions_package
from domain.decisions import (
    DECISIONS,
    Actor,
    Cancel,
    Close,
    ContactOnFile,
    DisclosureContext,
)
from domain.decisions.assessment import Assessment
from domain.decisions.contact_lost import ContactLost
from domain.decisions.contact_reached import ContactReached
from domain.decisions.contact_restored import ContactRestored
from domain.decisions.deescalation import Deescalation
from domain.decisions.dispatch import DispatchRequest
from domain.decisions.dispatch_update import DispatchUpdate
from domain.decisions.escalate import Escalate
from domain.decisions.note import Note
from domain.decisions.notify_contacts import NotifyContacts
from domain.decisions.reassign import Reassign
from domain.disclosure import ContactFacts
from domain.incident import IncidentState, Refusal
from domain.incident.machine import apply_decision, open_incident, refusal
from domain.incident.state import Effects, PageTarget
from domain.instruments import Band, ScoreBands
from domain.notification import LadderStatus
from domain.protocols import protocol_for
from domain.protocols.base import CrisisProtocol, EscalationPolicy
from domain.vocabulary import (
    Channel,
    ContactKind,
    CrisisType,
    DecisionKind,
    DeescalationOutcome,
    DisclosureBasis,
    DispatchService,
    DispatchStatus,
    Instrument,
    RiskLevel,
    Role,
    Stage,
    with_article,
)
from tests.helpers.domain_builders import (
    CLINICIAN,
    HOME,
    LATER,
    NOW,
    OWNER,
    PROGRAM,
    opening,
    tracking,
)
from tests.helpers.domain_builders import decision_request as request

SUPERVISOR = Actor(staff_id="sup", role=Role.SUPERVISOR, program_id=PROGRAM)
K = DecisionKind

# SPEC section 1 and the table of section 2: who records each decision kind.
CLINICAL = {Role.CLINICIAN, Role.SUPERVISOR}
SPEC_ROLES: dict[DecisionKind, set[Role]] = {
    K.ASSESSMENT: CLINICAL,
    K.DEESCALATION: CLINICAL,
    K.NOTIFY_CONTACTS: CLINICAL,
    K.DISPATCH: CLINICAL,
    K.DISPATCH_UPDATE: CLINICAL,
    K.DISPOSITION: CLINICAL,
    K.CONTACT_LOST: CLINICAL,
    K.CONTACT_RESTORED: CLINICAL,
    K.CONTACT_REACHED: CLINICAL,
    K.NOTE: CLINICAL,
    K.ESCALATE: CLINICAL,
    K.REASSIGN: {Role.SUPERVISOR},
    K.CLOSE: {Role.SUPERVISOR},
    # A clinician may cancel an `open` incident entered in error.
    K.CANCEL: CLINICAL,
    # SPEC 10.2: clinician, supervisor.
    K.RECLASSIFY: CLINICAL,
}
CSSRS_HIGH = {
    "wish_dead": True,
    "suicidal_thoughts": True,
    "method": False,
    "intent": True,
    "plan": False,
    "behavior": False,
}
CSSRS_MODERATE = CSSRS_HIGH | {"intent": False, "method": True}


def opened(crisis_type: CrisisType = CrisisType.SUICIDAL_IDEATION) -> IncidentState:
    """An incident as the current workflow opens it (tracking dispatches and follow-ups)."""
    return tracking(open_incident(opening(crisis_type), NOW))


def decide(
    state: IncidentState,
    decision: object,
    actor: Actor = CLINICIAN,
    protocol: CrisisProtocol | None = None,
    **extra: object,
) -> tuple[IncidentState, Effects]:
    """Record a decision the way the workflow does: refused, or applied at LATER."""
    protocol = protocol or protocol_for(state.crisis_type)
    asked = request(decision, actor, **extra)
    assert refusal(state, protocol, asked, LATER) is None
    return apply_decision(state, protocol, asked, LATER)


def refused(
    state: IncidentState, decision: object, actor: Actor = CLINICIAN, **extra: object
) -> Refusal:
    found = refusal(
        state, protocol_for(state.crisis_type), request(decision, actor, **extra), LATER
    )
    assert found is not None
    return found


def assessed(level: str, crisis_type: CrisisType = CrisisType.SUICIDAL_IDEATION) -> IncidentState:
    answers = {"high": CSSRS_HIGH, "moderate": CSSRS_MODERATE}[level]
    state, _ = decide(
        opened(crisis_type), Assessment(instrument=Instrument.CSSRS_SCREENER, answers=answers)
    )
    return state


# --- who may record what ----------------------------------------------------------------------


def test_the_registry_gives_each_kind_the_spec_roles() -> None:
    assert {kind: set(spec.roles) for kind, spec in DECISIONS.items()} == SPEC_ROLES


@pytest.mark.parametrize("role", [Role.FOLLOWUP, Role.ADMIN])
def test_non_clinical_roles_may_not_record_clinical_decisions(role: Role) -> None:
    actor = Actor(staff_id="x", role=role, program_id=PROGRAM)
    found = refused(opened(), Note(text="checking in"), actor)
    assert (found.status, found.code) == (403, "forbidden_role")
    article = {Role.FOLLOWUP: "a followup", Role.ADMIN: "an admin"}[role]
    assert found.detail == f"{article} may not record note"


def test_a_clinician_may_not_reassign_or_close() -> None:
    state = opened()
    assert refused(state, Reassign(owner_id=uuid4(), reason="handover")).code == "forbidden_role"
    assert refused(state, Close(reason="stable at home")).code == "forbidden_role"


def test_the_system_records_only_a_providers_dispatch_update() -> None:
    system = Actor(staff_id="provider", role="system", program_id=PROGRAM)
    assert refused(opened(), Note(text="automated"), system).code == "forbidden_role"
    update = {"kind": "dispatch_update", "dispatch_id": str(uuid4()), "status": "en_route"}
    assert refused(opened(), update, system).code != "forbidden_role"


def test_another_programs_incident_does_not_exist() -> None:
    stranger = Actor(staff_id="x", role=Role.SUPERVISOR, program_id=uuid4())
    found = refused(opened(), Note(text="hello"), stranger)
    assert (found.status, found.code, found.detail) == (404, "not_found", "no such incident")


# --- replays and idempotency --------------------------------------------------------------------


def test_a_replayed_provider_callback_is_refused() -> None:
    state = opened()
    state.callback_events = ["evt-1"]
    found = refused(state, Note(text="again"), callback_event_id="evt-1")
    assert (found.status, found.code) == (409, "replayed")
    assert (
        refusal(
            state,
            protocol_for(state.crisis_type),
            request(Note(text="new"), callback_event_id="evt-2"),
            LATER,
        )
        is None
    )


def test_an_idempotency_key_reused_for_another_decision_is_refused() -> None:
    state = opened()
    first = request(Note(text="first"), request_digest="digest-a")
    state, _ = apply_decision(state, protocol_for(state.crisis_type), first, LATER)
    protocol = protocol_for(state.crisis_type)
    again = first.model_copy()
    assert refusal(state, protocol, again, LATER) is None
    assert apply_decision(state, protocol, again, LATER)[0].revision == state.revision
    other = first.model_copy(update={"request_digest": "digest-b"})
    found = refusal(state, protocol, other, LATER)
    assert found is not None
    assert (found.status, found.code, found.field) == (
        422,
        "idempotency_key_reused",
        "Idempotency-Key",
    )


# --- stages -------------------------------------------------------------------------------------


def test_a_clinician_cancels_an_open_incident_but_not_one_under_way() -> None:
    state, _ = decide(opened(), Cancel(reason="entered in error"))
    assert state.stage is Stage.CANCELLED
    found = refused(assessed("moderate"), Cancel(reason="entered in error"))
    assert (found.status, found.code, found.stage) == (409, "not_allowed_in_stage", Stage.ASSESSING)
    assert found.detail == "cancel is not allowed while the incident is assessing"
    assert K.CANCEL not in found.allowed and K.DISPOSITION in found.allowed


# --- assessment ---------------------------------------------------------------------------------


def test_an_assessment_sets_the_risk_and_moves_to_assessing() -> None:
    state = assessed("high")
    assert (state.stage, state.risk_level) == (Stage.ASSESSING, RiskLevel.HIGH)
    summary = state.assessments[-1]
    assert (summary.computed_risk, summary.risk_level, summary.overridden, summary.at) == (
        RiskLevel.HIGH,
        RiskLevel.HIGH,
        False,
        LATER,
    )
    assert state.decisions[-1].detail["risk_level"] == "high"


def test_high_risk_does_not_require_dispatch_but_imminent_does() -> None:
    # SPEC 2: `imminent` risk with no dispatch within 2 min pages the supervisor.
    high = assessed("high")
    assert (high.dispatch_required_since, high.imminent_since) == (None, None)
    imminent, _ = decide(
        opened(CrisisType.OVERDOSE),
        Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=["gurgling"]),
    )
    assert imminent.risk_level is RiskLevel.IMMINENT
    assert (imminent.dispatch_required_since, imminent.imminent_since) == (LATER, LATER)


def test_a_lower_reassessment_ends_imminent_but_not_the_dispatch_requirement() -> None:
    state, _ = decide(
        opened(CrisisType.OVERDOSE),
        Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=["gurgling"]),
    )
    state, _ = decide(state, Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=["vomiting"]))
    assert (state.risk_level, state.imminent_since) == (RiskLevel.HIGH, None)
    assert state.dispatch_required_since == LATER


def test_an_override_needs_a_justification_and_records_both_levels() -> None:
    answers = {"instrument": Instrument.CSSRS_SCREENER, "answers": CSSRS_MODERATE}
    with pytest.raises(ValidationError, match="needs a clinical justification"):
        Assessment(**answers, risk_override=RiskLevel.IMMINENT)
    state, _ = decide(
        opened(),
        Assessment(**answers, risk_override=RiskLevel.IMMINENT, justification="command voices"),
    )
    summary = state.assessments[-1]
    assert (summary.computed_risk, summary.risk_level, summary.overridden) == (
        RiskLevel.MODERATE,
        RiskLevel.IMMINENT,
        True,
    )
    assert state.dispatch_required_since == LATER


def test_any_risk_level_the_clinician_sets_needs_three_characters_of_justification() -> None:
    answers = {"instrument": Instrument.CSSRS_SCREENER, "answers": CSSRS_MODERATE}
    # Even an override that agrees with the instrument is the clinician's call: justified.
    with pytest.raises(ValidationError, match="needs a clinical justification of at least 3"):
        Assessment(**answers, risk_override=RiskLevel.MODERATE)
    with pytest.raises(ValidationError, match="needs a clinical justification"):
        Assessment(**answers, risk_override=RiskLevel.MODERATE, justification=" a \n b ")
    kept = Assessment(**answers, risk_override=RiskLevel.MODERATE, justification="a b c")
    assert kept.justification == "a b c"
    assert Assessment(**answers).risk_override is None  # the instrument's own result needs none


def test_the_schema_states_which_field_each_instrument_takes_and_the_justification() -> None:
    rules = Assessment.model_json_schema()["allOf"]
    by_instrument = {r["if"]["properties"]["instrument"]["const"]: r["then"] for r in rules[:-1]}
    assert by_instrument["cows"]["required"] == ["scores"]
    assert by_instrument["cows"]["properties"]["answers"] == {"type": "null"}
    assert by_instrument["cows"]["properties"]["signs"] == {"type": "null"}
    assert "resting_pulse" in by_instrument["cows"]["properties"]["scores"]["properties"]
    assert by_instrument["overdose_signs"]["required"] == ["signs"]
    assert by_instrument["cssrs_screener"]["required"] == ["answers"]
    assert by_instrument["clinical_judgement"]["required"] == ["risk_override"]
    assert rules[-1]["then"]["properties"]["justification"]["pattern"] == r"\S\s*\S\s*\S"


def test_an_instrument_outside_the_protocol_is_refused() -> None:
    found = refused(opened(), Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=[]))
    assert (found.status, found.code, found.field) == (409, "invalid", "instrument")
    assert found.detail.startswith(
        "overdose_signs is not an instrument of the suicidal_ideation protocol"
    )


def test_a_programs_tuned_bands_are_used_for_the_recorded_risk() -> None:
    tuned = protocol_for(CrisisType.WITHDRAWAL).model_copy(
        update={
            "ciwa_ar_bands": ScoreBands(
                bands=(
                    Band(min_total=0, label="mild", risk=RiskLevel.LOW),
                    Band(min_total=5, label="moderate", risk=RiskLevel.MODERATE),
                )
            )
        }
    )
    scores = dict.fromkeys(
        (
            "nausea_vomiting",
            "tremor",
            "paroxysmal_sweats",
            "anxiety",
            "agitation",
            "tactile_disturbances",
            "auditory_disturbances",
            "visual_disturbances",
            "headache",
            "orientation",
        ),
        0,
    ) | {"tremor": 6}
    asked = request(Assessment(instrument=Instrument.CIWA_AR, scores=scores))
    state, _ = apply_decision(opened(CrisisType.WITHDRAWAL), tuned, asked, LATER)
    assert (state.risk_level, state.assessments[-1].band) == (RiskLevel.MODERATE, "moderate")


# --- de-escalation: failed on high risk makes dispatch required ---------------------------------


@pytest.mark.parametrize(
    ("level", "outcome", "required"),
    [
        ("high", DeescalationOutcome.FAILED, True),
        ("moderate", DeescalationOutcome.FAILED, False),
        ("high", DeescalationOutcome.PARTIAL, False),
        ("high", DeescalationOutcome.RESOLVED, False),
    ],
)
def test_failed_deescalation_requires_dispatch_only_on_high_risk(
    level: str, outcome: DeescalationOutcome, required: bool
) -> None:
    state, _ = decide(assessed(level), Deescalation(techniques=["grounding"], outcome=outcome))
    assert state.stage is Stage.DEESCALATING
    assert state.deescalation_outcome is outcome
    assert state.dispatch_required_since == (LATER if required else None)
    assert state.decisions[-1].detail == {"outcome": outcome, "techniques": ["grounding"]}


def test_failed_deescalation_before_any_assessment_does_not_require_dispatch() -> None:
    state, _ = decide(
        opened(), Deescalation(techniques=["breathing"], outcome=DeescalationOutcome.FAILED)
    )
    assert state.dispatch_required_since is None


# --- dispatch -----------------------------------------------------------------------------------


def test_dispatch_needs_a_location() -> None:
    found = refused(
        assessed("high"),
        DispatchRequest(service=DispatchService.EMERGENCY_911, reason="plan and means"),
    )
    assert (found.status, found.code, found.field) == (409, "location_required", "location")


@pytest.mark.parametrize(
    "service",
    [
        DispatchService.MOBILE_CRISIS,
        DispatchService.HOSPITAL,
        DispatchService.DETOX,
        DispatchService.URGENT_CARE,
    ],
)
def test_a_directory_service_needs_a_resource(service: DispatchService) -> None:
    found = refused(
        assessed("high"), DispatchRequest(service=service, reason="needs care", location=HOME)
    )
    assert (found.status, found.field) == (409, "resource_id")
    article = "an" if service is DispatchService.URGENT_CARE else "a"
    assert found.detail == f"{article} {service} dispatch needs a resource from the directory"


@pytest.mark.parametrize("service", [DispatchService.EMERGENCY_911, DispatchService.CRISIS_988])
def test_a_called_service_needs_no_resource_and_moves_to_responding(
    service: DispatchService,
) -> None:
    state, _ = decide(
        assessed("high"),
        DispatchRequest(
            service=service, reason="plan and means", location=HOME, reference="PSAP-1"
        ),
    )
    assert (state.stage, state.location) == (Stage.RESPONDING, HOME)
    dispatch = state.dispatches[-1]
    assert (dispatch.service, dispatch.status, dispatch.requested_at, dispatch.reference) == (
        service,
        DispatchStatus.REQUESTED,
        LATER,
        "PSAP-1",
    )


# --- lost contact (SPEC 2b) ---------------------------------------------------------------------


def test_contact_lost_needs_a_channel_to_reach_the_client_and_cannot_repeat() -> None:
    found = refused(assessed("high"), ContactLost())
    assert (found.status, found.code) == (409, "client_unreachable")
    state, effects = decide(
        assessed("high"), ContactLost(channel="phone"), client_channels=(Channel.SMS, Channel.VOICE)
    )
    assert (state.contact_lost, state.contact_lost_since) == (True, LATER)
    assert [r.recipient_id for r in effects.ladders[0].recipients] == [state.client_id]
    again = refused(state, ContactLost(), client_channels=(Channel.SMS,))
    assert (again.status, again.code) == (409, "contact_lost")


def test_contact_restored_only_when_lost_and_it_stops_the_client_ladder() -> None:
    assert refused(assessed("high"), ContactRestored(how="called back")).code == "contact_not_lost"
    lost, effects = decide(assessed("high"), ContactLost(), client_channels=(Channel.SMS,))
    restored, stopped = decide(lost, ContactRestored(how="called back"))
    assert (restored.contact_lost, restored.contact_lost_since) == (False, None)
    assert stopped.stop_ladders == [effects.ladders[0].ladder_id]


# --- owner and ending ---------------------------------------------------------------------------


def test_reassign_changes_the_owner_and_pages_them_but_not_to_the_same_owner() -> None:
    found = refused(opened(), Reassign(owner_id=OWNER, reason="handover"), SUPERVISOR)
    assert (found.status, found.field) == (409, "owner_id")
    new_owner = uuid4()
    state, effects = decide(opened(), Reassign(owner_id=new_owner, reason="handover"), SUPERVISOR)
    assert state.owner_id == new_owner
    assert [page.staff_id for page in effects.pages] == [new_owner]
    assert state.decisions[-1].detail == {"from": str(OWNER), "to": str(new_owner)}


def test_close_waits_for_a_dispatch_under_way_unless_forced() -> None:
    responding, _ = decide(
        assessed("high"),
        DispatchRequest(service=DispatchService.EMERGENCY_911, reason="plan", location=HOME),
    )
    found = refused(responding, Close(reason="stable at home"), SUPERVISOR)
    assert (found.status, found.code, found.field) == (409, "dispatch_under_way", "force")
    closed, _ = decide(responding, Close(reason="stable at home", force=True), SUPERVISOR)
    assert (closed.stage, closed.ended_at) == (Stage.CLOSED, LATER)


# --- notify_contacts: the disclosure rules, applied to the decision (SPEC section 2) ------------

MOTHER = ContactFacts(contact_id=uuid4(), kind=ContactKind.PERSONAL, name="Marisol Quintanilla")
SISTER = ContactFacts(contact_id=uuid4(), kind=ContactKind.PERSONAL, name="Ana Quintanilla")
ER = ContactFacts(
    contact_id=uuid4(), kind=ContactKind.MEDICAL, name="Dr. Okafor", facility="St. Brigid ER"
)
ON_FILE = DisclosureContext(
    contacts=[
        ContactOnFile(facts=MOTHER, channels=(Channel.SMS,), priority=2),
        ContactOnFile(facts=SISTER, channels=(Channel.VOICE,), priority=1),
        ContactOnFile(facts=ER, channels=(Channel.VOICE,), priority=3),
    ],
    consents=[],
)


def notify(
    contacts: list[ContactFacts], basis: DisclosureBasis, nature: str | None = None
) -> NotifyContacts:
    return NotifyContacts(
        contact_ids=[c.contact_id for c in contacts], basis=basis, emergency_nature=nature
    )


def test_notify_needs_the_clients_contacts_and_only_those() -> None:
    state = assessed("high")
    missing = refused(state, notify([MOTHER], DisclosureBasis.SERIOUS_IMMINENT_THREAT))
    assert (missing.status, missing.field) == (409, "contact_ids")
    assert missing.detail == "the client's contacts and consents were not provided"
    stranger = uuid4()
    unknown = refused(
        state,
        NotifyContacts(contact_ids=[stranger], basis=DisclosureBasis.SERIOUS_IMMINENT_THREAT),
        disclosure=ON_FILE,
    )
    assert (unknown.status, unknown.field) == (409, "contact_ids")
    assert unknown.detail == f"not an emergency contact of this client: {stranger}"


def test_a_threat_lets_family_be_told_outside_substance_use_in_priority_order() -> None:
    state, effects = decide(
        assessed("high"),
        notify([MOTHER, SISTER], DisclosureBasis.SERIOUS_IMMINENT_THREAT),
        disclosure=ON_FILE,
    )
    ladder = effects.ladders[0]
    assert [r.recipient_id for r in ladder.recipients] == [SISTER.contact_id, MOTHER.contact_id]
    assert (state.stage, state.part2_disclosures) == (Stage.RESPONDING, [])
    assert state.ladders[-1].basis == DisclosureBasis.SERIOUS_IMMINENT_THREAT


def test_part2_refuses_family_without_written_consent_and_names_the_rule() -> None:
    overdose, _ = decide(
        opened(CrisisType.OVERDOSE),
        Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=["vomiting"]),
    )
    found = refused(
        overdose, notify([MOTHER], DisclosureBasis.SERIOUS_IMMINENT_THREAT), disclosure=ON_FILE
    )
    assert (found.status, found.field) == (409, "basis")
    assert found.code == "disclosure_refused:part2_written_consent_required"
    assert found.detail.startswith(f"contact {MOTHER.contact_id}: Substance-use incidents")


def test_part2_medical_emergency_tells_the_er_and_records_the_documentation() -> None:
    overdose, _ = decide(
        opened(CrisisType.OVERDOSE),
        Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=["vomiting"]),
    )
    nameless = refused(
        overdose, notify([ER], DisclosureBasis.MEDICAL_EMERGENCY), disclosure=ON_FILE
    )
    assert nameless.code == "disclosure_refused:part2_emergency_nature_required"
    state, _ = decide(
        overdose,
        notify([ER], DisclosureBasis.MEDICAL_EMERGENCY, "suspected opioid overdose"),
        disclosure=ON_FILE,
    )
    [record] = state.part2_disclosures
    assert (
        record.contact_id,
        record.medical_personnel,
        record.facility,
        record.disclosed_by,
        record.disclosed_at,
        record.nature_of_emergency,
    ) == (
        ER.contact_id,
        "Dr. Okafor",
        "St. Brigid ER",
        str(OWNER),
        LATER,
        "suspected opioid overdose",
    )
    detail = state.decisions[-1].detail
    assert detail["part2_documentation"] == [
        {
            "contact_id": str(ER.contact_id),
            "medical_personnel": "Dr. Okafor",
            "facility": "St. Brigid ER",
            "disclosed_by": str(OWNER),
            "disclosed_at": "2026-11-27T12:03:00Z",
            "nature_of_emergency": "suspected opioid overdose",
        }
    ]
    assert (detail["ladder_id"], detail["contact_ids"], detail["basis"]) == (
        str(state.ladders[-1].ladder_id),
        [str(ER.contact_id)],
        "medical_emergency",
    )


# --- what each kind records ---------------------------------------------------------------------

CIWA_ZERO = dict.fromkeys(
    (
        "nausea_vomiting",
        "tremor",
        "paroxysmal_sweats",
        "anxiety",
        "agitation",
        "tactile_disturbances",
        "auditory_disturbances",
        "visual_disturbances",
        "headache",
        "orientation",
    ),
    0,
)
COWS_ZERO = dict.fromkeys(
    (
        "resting_pulse",
        "sweating",
        "restlessness",
        "pupil_size",
        "bone_joint_aches",
        "runny_nose_tearing",
        "gi_upset",
        "tremor",
        "yawning",
        "anxiety_irritability",
        "gooseflesh",
    ),
    0,
)


def test_an_assessment_records_the_instrument_result_without_the_notes() -> None:
    state, _ = decide(
        opened(CrisisType.WITHDRAWAL),
        Assessment(
            instrument=Instrument.CIWA_AR, scores=CIWA_ZERO | {"tremor": 7, "anxiety": 4}, notes=""
        ),
    )
    assert state.decisions[-1].detail == {
        "instrument": "ciwa_ar",
        "computed_risk": "moderate",
        "risk_level": "moderate",
        "total": 11,
        "overridden": False,
    }
    assert state.decisions[-1].documentation == {}
    summary = state.assessments[-1]
    assert (summary.total, summary.band) == (11, "moderate")


def test_clinical_judgement_records_no_computed_risk() -> None:
    state, _ = decide(
        opened(CrisisType.PANIC),
        Assessment(
            instrument=Instrument.CLINICAL_JUDGEMENT,
            risk_override=RiskLevel.MODERATE,
            justification="hyperventilating, oriented",
        ),
    )
    summary = state.assessments[-1]
    assert (summary.computed_risk, summary.total, summary.band, summary.overridden) == (
        None,
        None,
        None,
        True,
    )
    assert state.decisions[-1].detail == {
        "instrument": "clinical_judgement",
        "computed_risk": None,
        "risk_level": "moderate",
        "total": None,
        "overridden": True,
    }
    assert state.decisions[-1].documentation == {"justification": "hyperventilating, oriented"}


@pytest.mark.parametrize(
    ("instrument", "field"),
    [
        (Instrument.CSSRS_SCREENER, "answers"),
        (Instrument.CIWA_AR, "scores"),
        (Instrument.COWS, "scores"),
        (Instrument.OVERDOSE_SIGNS, "signs"),
    ],
)
def test_an_instrument_without_its_answers_is_refused(instrument: Instrument, field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field}: is required for this instrument"):
        Assessment(instrument=instrument)


def test_a_clinical_judgement_needs_a_risk_level() -> None:
    with pytest.raises(
        ValidationError, match="risk_override: clinical judgement needs a risk level"
    ):
        Assessment(instrument=Instrument.CLINICAL_JUDGEMENT)


def test_an_instrument_refusal_lists_the_protocols_instruments() -> None:
    found = refused(opened(), Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=[]))
    assert found.detail == (
        "overdose_signs is not an instrument of the suicidal_ideation protocol "
        "(use one of cssrs_screener, clinical_judgement)"
    )


@pytest.mark.parametrize(
    ("scores", "tuned", "band", "risk"),
    [
        # SPEC 2 defaults: 13-24 moderate.
        (
            COWS_ZERO | {"resting_pulse": 4, "sweating": 4, "restlessness": 5},
            False,
            "moderate",
            RiskLevel.MODERATE,
        ),
        (COWS_ZERO | {"resting_pulse": 4}, False, "none", RiskLevel.LOW),
        # A program that tuned COWS to read 4 and over as high.
        (COWS_ZERO | {"resting_pulse": 4}, True, "tuned_high", RiskLevel.HIGH),
    ],
)
def test_a_cows_assessment_reads_through_the_protocols_bands(
    scores: dict[str, int], tuned: bool, band: str, risk: RiskLevel
) -> None:
    protocol = protocol_for(CrisisType.WITHDRAWAL)
    if tuned:
        protocol = protocol.model_copy(
            update={
                "cows_bands": ScoreBands(
                    bands=(
                        Band(min_total=0, label="tuned_low", risk=RiskLevel.LOW),
                        Band(min_total=4, label="tuned_high", risk=RiskLevel.HIGH),
                    )
                )
            }
        )
    state, _ = decide(
        opened(CrisisType.WITHDRAWAL),
        Assessment(instrument=Instrument.COWS, scores=scores),
        protocol=protocol,
    )
    assert (state.assessments[-1].band, state.risk_level) == (band, risk)


def test_refusals_in_conflict_say_the_stage_and_what_is_allowed() -> None:
    found = refused(assessed("high"), ContactRestored(how="called back"))
    assert (found.status, found.code, found.detail) == (
        409,
        "contact_not_lost",
        "contact was not lost",
    )
    assert found.stage is Stage.ASSESSING
    assert K.DISPOSITION in found.allowed and K.CANCEL not in found.allowed


def test_contact_lost_refusals_say_why() -> None:
    found = refused(assessed("high"), ContactLost())
    assert found.detail == "the client has no phone or email on file to reach them by"
    lost, _ = decide(assessed("high"), ContactLost(), client_channels=(Channel.SMS,))
    again = refused(lost, ContactLost(), client_channels=(Channel.SMS,))
    assert again.detail == "contact is already lost; record contact_restored first"


def test_the_lost_contact_ladder_shares_the_window_among_the_clients_channels() -> None:
    protocol = protocol_for(CrisisType.SUICIDAL_IDEATION).model_copy(
        update={"lost_contact_window": timedelta(minutes=12)}
    )
    channels = (Channel.SMS, Channel.VOICE, Channel.EMAIL)
    high = assessed("high")
    state, effects = decide(
        high, ContactLost(channel="phone"), protocol=protocol, client_channels=channels
    )
    [ladder] = effects.ladders
    assert ladder.policy.ack_window == timedelta(minutes=4)
    assert ladder.recipients[0].channels == channels
    assert state.decisions[-1].detail == {"channel": "phone", "ladder_id": str(ladder.ladder_id)}
    assert ladder.ladder_id == state.decisions[-1].decision_id
    _, single = decide(high, ContactLost(), protocol=protocol, client_channels=(Channel.SMS,))
    assert single.ladders[0].policy.ack_window == timedelta(minutes=12)


def test_contact_restored_stops_only_the_lost_contact_ladder() -> None:
    told, _ = decide(
        assessed("high"),
        notify([MOTHER], DisclosureBasis.SERIOUS_IMMINENT_THREAT),
        disclosure=ON_FILE,
    )
    lost, effects = decide(told, ContactLost(), client_channels=(Channel.SMS,))
    _, stopped = decide(lost, ContactRestored(how="called back"))
    assert stopped.stop_ladders == [effects.ladders[0].ladder_id]


def test_a_dispatch_sends_its_packet_and_records_what_was_asked() -> None:
    resource = uuid4()
    state, effects = decide(
        assessed("high"),
        DispatchRequest(
            service=DispatchService.MOBILE_CRISIS,
            resource_id=resource,
            reason="plan and means",
            location=HOME,
        ),
    )
    dispatch = state.dispatches[-1]
    assert (dispatch.resource_id, dispatch.reason, dispatch.requested_by) == (
        resource,
        "plan and means",
        str(OWNER),
    )
    [order] = effects.dispatches
    assert (order.dispatch_id, order.attempt, order.resource_id, order.location, order.reason) == (
        dispatch.dispatch_id,
        1,
        resource,
        HOME,
        "plan and means",
    )
    assert state.decisions[-1].detail == {
        "dispatch_id": str(dispatch.dispatch_id),
        "service": "mobile_crisis",
        "reason": "plan and means",
        "reference": None,
    }
    second, more = decide(
        state, DispatchRequest(service=DispatchService.EMERGENCY_911, reason="no answer at door")
    )
    assert more.dispatches[0].dispatch_id == second.dispatches[-1].dispatch_id
    assert more.dispatches[0].reason == "no answer at door"


def test_the_location_refusal_says_what_to_do() -> None:
    found = refused(
        assessed("high"), DispatchRequest(service=DispatchService.EMERGENCY_911, reason="plan")
    )
    assert found.detail == "dispatch needs the client's location: record it with the dispatch"


def test_the_close_refusal_says_how_to_close_anyway() -> None:
    responding, _ = decide(
        assessed("high"),
        DispatchRequest(service=DispatchService.EMERGENCY_911, reason="plan", location=HOME),
    )
    found = refused(responding, Close(reason="stable at home"), SUPERVISOR)
    assert found.detail == (
        'a dispatch is still requested or en route: record its outcome, or close with "force":'
        " true and the reason"
    )


SAFETY_PLAN = {
    section: ["one item"]
    for section in (
        "warning_signs",
        "internal_coping",
        "social_distractions",
        "people_to_ask",
        "professionals",
        "means_safety",
    )
}


def disposed() -> tuple[IncidentState, Effects]:
    return decide(
        assessed("moderate"),
        {
            "kind": "disposition",
            "outcome": "remained_home_with_safety_plan",
            "safety_plan": SAFETY_PLAN,
        },
    )


def test_a_disposition_schedules_the_spec_follow_ups() -> None:
    state, effects = disposed()
    assert state.stage is Stage.STABILIZED
    assert effects.followup is not None
    # SPEC 5: within 24 h, 72 h, 7 days and 30 days.
    assert effects.followup.schedule == [
        timedelta(hours=24),
        timedelta(hours=72),
        timedelta(days=7),
        timedelta(days=30),
    ]


@pytest.mark.parametrize("cancel_followup", [True, False])
def test_close_stops_the_follow_up_only_when_asked(cancel_followup: bool) -> None:
    stabilized, _ = disposed()
    closed, effects = decide(
        stabilized, Close(reason="stable at home", cancel_followup=cancel_followup), SUPERVISOR
    )
    assert effects.cancel_followup is cancel_followup
    stopped = ["follow-up tasks"] if cancel_followup else []
    assert closed.decisions[-1].detail == {
        "force": False,
        "cancel_followup": cancel_followup,
        "stopped": stopped,
    }


def test_cancel_without_a_follow_up_stops_nothing_and_ends_now() -> None:
    state, effects = decide(
        opened(), Close(reason="entered in error", cancel_followup=True), SUPERVISOR
    )
    assert (effects.cancel_followup, state.ended_at) == (False, LATER)
    cancelled, _ = decide(opened(), Cancel(reason="entered in error"))
    assert cancelled.ended_at == LATER


def test_reassign_pages_the_new_owner_with_the_reason() -> None:
    found = refused(opened(), Reassign(owner_id=OWNER, reason="handover"), SUPERVISOR)
    assert found.detail == "the incident already has this owner"
    _, effects = decide(opened(), Reassign(owner_id=uuid4(), reason="handover"), SUPERVISOR)
    assert [page.reason for page in effects.pages] == ["an incident was reassigned to you"]


def test_an_escalation_policy_backs_off_then_repeats() -> None:
    policy = EscalationPolicy(
        backoff=(timedelta(minutes=1), timedelta(minutes=2)), then_every=timedelta(minutes=9)
    )
    assert [policy.repeat_after(n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=9),
        timedelta(minutes=9),
    ]


def test_a_stage_a_protocol_does_not_list_allows_nothing() -> None:
    narrow = protocol_for(CrisisType.OTHER).model_copy(
        update={"stage_decisions": {Stage.OPEN: frozenset({K.NOTE})}}
    )
    assert narrow.allows(Stage.OPEN, K.NOTE)
    assert not narrow.allows(Stage.ASSESSING, K.NOTE)
    assert narrow.allowed_in(Stage.ASSESSING) == []


# --- the registry refuses to load with a kind missing a piece -----------------------------------


class UnparsedNote(Note):
    """A body the API's decision union does not parse."""


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            {K.NOTE: None},
            r"^decision kinds without a registry entry: \[<DecisionKind.NOTE: 'note'>\]$",
        ),
        ({"extra": DECISIONS[K.NOTE]}, r"^decision kinds without a registry entry: \[\]$"),
        (
            {K.NOTE: dataclasses.replace(DECISIONS[K.NOTE], body=Reassign)},
            r"^the note entry's body is not the one the API parses$",
        ),
        (
            {K.NOTE: dataclasses.replace(DECISIONS[K.NOTE], body=UnparsedNote)},
            r"^the note entry's body is not the one the API parses$",
        ),
        (
            {K.NOTE: dataclasses.replace(DECISIONS[K.NOTE], roles=frozenset())},
            r"^nobody may record note$",
        ),
    ],
)
def test_the_registry_check_names_the_missing_piece(
    monkeypatch: pytest.MonkeyPatch, broken: dict[object, object], message: str
) -> None:
    for kind, spec in broken.items():
        if spec is None:
            monkeypatch.delitem(DECISIONS, kind)
        else:
            monkeypatch.setitem(DECISIONS, kind, spec)
    with pytest.raises(RuntimeError, match=message):
        decisions_package._check_registry()


def test_the_registry_as_shipped_passes_its_check() -> None:
    decisions_package._check_registry()


# --- escalate, contact_reached, dispatch_update, disposition ------------------------------------


def test_escalate_pages_the_on_call_supervisor_and_may_hand_over() -> None:
    state, effects = decide(opened(), Escalate(reason="client not safe alone"))
    assert [(p.target, p.reason) for p in effects.pages] == [
        (PageTarget.ON_CALL_SUPERVISOR, "escalated by clinician")
    ]
    assert (state.owner_id, state.decisions[-1].detail) == (OWNER, {})
    same, _ = decide(opened(), Escalate(reason="client not safe alone", owner_id=OWNER))
    assert same.decisions[-1].detail == {}
    new_owner = uuid4()
    handed, effects = decide(opened(), Escalate(reason="needs a senior", owner_id=new_owner))
    assert handed.owner_id == new_owner
    assert handed.decisions[-1].detail == {"from": str(OWNER), "to": str(new_owner)}
    assert [(p.target, p.staff_id, p.reason) for p in effects.pages][1] == (
        PageTarget.STAFF,
        new_owner,
        "an incident was escalated to you",
    )
    assert effects.pages[0].page_id == f"escalate-{handed.decisions[-1].decision_id}"


def test_contact_reached_acknowledges_only_a_contact_being_notified() -> None:
    found = refused(
        assessed("high"), ContactReached(contact_id=MOTHER.contact_id, how="she called")
    )
    assert (found.status, found.field, found.detail) == (
        409,
        "contact_id",
        "this contact is not being notified",
    )
    told, _ = decide(
        assessed("high"),
        notify([MOTHER], DisclosureBasis.SERIOUS_IMMINENT_THREAT),
        disclosure=ON_FILE,
    )
    reached, effects = decide(told, ContactReached(contact_id=MOTHER.contact_id, how="she called"))
    [ack] = effects.acknowledgements
    assert (ack.recipient_id, ack.via, ack.at) == (MOTHER.contact_id, "clinician", LATER)
    ladder = reached.ladders[-1]
    assert (ladder.status, ladder.acknowledged_by, ladder.acknowledged_via) == (
        LadderStatus.ACKNOWLEDGED,
        MOTHER.contact_id,
        "clinician",
    )
    assert ladder.ended_at == LATER
    assert reached.decisions[-1].detail == {"contact_id": str(MOTHER.contact_id)}


def responding() -> IncidentState:
    state, _ = decide(
        assessed("high"),
        DispatchRequest(service=DispatchService.EMERGENCY_911, reason="plan", location=HOME),
    )
    return state


@pytest.mark.parametrize(
    ("status", "ended"),
    [
        (DispatchStatus.EN_ROUTE, False),
        (DispatchStatus.ARRIVED, False),
        (DispatchStatus.TRANSPORTED, True),
        (DispatchStatus.CANCELLED, True),
    ],
)
def test_dispatch_update_advances_the_dispatch(status: DispatchStatus, ended: bool) -> None:
    state = responding()
    dispatch_id = state.dispatches[0].dispatch_id
    update = DispatchUpdate(
        dispatch_id=dispatch_id, status=status, eta_minutes=7, destination="St. Brigid"
    )
    after, _ = decide(state, update)
    dispatch = after.dispatches[0]
    assert (dispatch.status, dispatch.eta_minutes, dispatch.destination) == (
        status,
        7,
        "St. Brigid",
    )
    assert dispatch.ended_at == (LATER if ended else None)
    assert after.decisions[-1].detail == {"dispatch_id": str(dispatch_id), "status": str(status)}
    if ended:
        again = refused(
            after, DispatchUpdate(dispatch_id=dispatch_id, status=DispatchStatus.ARRIVED)
        )
        assert (again.status, again.code, again.detail) == (
            409,
            "dispatch_ended",
            f"the dispatch is already {status}",
        )


def test_dispatch_update_keeps_a_known_destination_and_records_the_callback() -> None:
    state = responding()
    dispatch_id = state.dispatches[0].dispatch_id
    system = Actor(staff_id="provider", role="system", program_id=PROGRAM)
    first = DispatchUpdate(
        dispatch_id=dispatch_id, status=DispatchStatus.EN_ROUTE, destination="ER"
    )
    state, _ = decide(state, first, system, callback_event_id="evt-9")
    assert state.callback_events == ["evt-9"]
    state, _ = decide(state, DispatchUpdate(dispatch_id=dispatch_id, status=DispatchStatus.ARRIVED))
    assert (state.dispatches[0].destination, state.callback_events) == ("ER", ["evt-9"])
    unknown = refused(state, DispatchUpdate(dispatch_id=uuid4(), status=DispatchStatus.ARRIVED))
    assert (unknown.status, unknown.field, unknown.detail) == (
        409,
        "dispatch_id",
        "no such dispatch on this incident",
    )


def test_a_disposition_needs_an_assessment_and_the_required_dispatch() -> None:
    outcome = {
        "kind": "disposition",
        "outcome": "remained_home_with_safety_plan",
        "safety_plan": SAFETY_PLAN,
    }
    calmed, _ = decide(
        opened(), Deescalation(techniques=["breathing"], outcome=DeescalationOutcome.RESOLVED)
    )
    first = refused(calmed, outcome)
    assert (first.status, first.code, first.detail) == (
        409,
        "required_step",
        "record an assessment before the disposition",
    )
    failed, _ = decide(
        assessed("high"), Deescalation(techniques=["grounding"], outcome=DeescalationOutcome.FAILED)
    )
    found = refused(failed, outcome)
    assert (found.code, found.detail) == (
        "required_step",
        "dispatch is required before the disposition",
    )


def test_a_suicidal_ideation_disposition_needs_a_safety_plan() -> None:
    found = refused(
        assessed("moderate"), {"kind": "disposition", "outcome": "remained_home_with_safety_plan"}
    )
    assert (found.status, found.field) == (409, "safety_plan")
    assert found.detail == "the suicidal_ideation protocol requires a Stanley-Brown safety plan"


def test_a_disposition_records_the_outcome_and_plan_and_starts_follow_up_once() -> None:
    state, effects = disposed()
    assert (state.disposition, state.safety_plan, state.followup_running) == (
        "remained_home_with_safety_plan",
        SAFETY_PLAN,
        True,
    )
    assert state.decisions[-1].detail == {
        "outcome": "remained_home_with_safety_plan",
        "safety_plan": True,
    }
    plan = effects.followup
    assert plan is not None
    assert (plan.incident_id, plan.client_id, plan.owner_id, plan.risk_level, plan.starts_at) == (
        state.incident_id,
        state.client_id,
        OWNER,
        RiskLevel.MODERATE,
        LATER,
    )
    assert plan.safety_plan == SAFETY_PLAN


def test_a_disposition_without_follow_up_tracking_or_schedule_starts_none() -> None:
    untracked = assessed("moderate").model_copy(update={"followup_tracking": False})
    outcome = {
        "kind": "disposition",
        "outcome": "remained_home_with_safety_plan",
        "safety_plan": SAFETY_PLAN,
    }
    state, effects = decide(untracked, outcome)
    assert (effects.followup, state.followup_running) == (None, False)
    no_schedule = protocol_for(CrisisType.SUICIDAL_IDEATION).model_copy(
        update={"followup_schedule": ()}
    )
    _, effects = decide(assessed("moderate"), outcome, protocol=no_schedule)
    assert effects.followup is None


@pytest.mark.parametrize(
    ("word", "phrase"),
    [
        ("admin", "an admin"),
        ("urgent_care", "an urgent_care"),
        ("Emergency", "an Emergency"),
        ("supervisor", "a supervisor"),
        ("911", "a 911"),
        ("", "a "),
    ],
)
def test_a_role_or_service_reads_with_its_article(word: str, phrase: str) -> None:
    assert with_article(word) == phrase
