"""`reclassify` and the disclosure grounds on `notify_contacts`, pinned to SPEC 10.2: the new
type's protocol applies from the moment (its version recorded, its windows on the timers that
have not sounded, its dispatch threshold), earlier decisions stay, a final stage refuses it; a
threat basis needs high risk or a justification (kept with the decision); a ladder's contacts
carry the consents their disclosure rests on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from domain.decisions import (
    Actor,
    ContactOnFile,
    DecisionRequest,
    DisclosureContext,
    Reclassify,
)
from domain.decisions.assessment import Assessment
from domain.decisions.cancel import Cancel
from domain.decisions.note import Note
from domain.decisions.notify_contacts import NotifyContacts
from domain.decisions.reclassify import types_left
from domain.disclosure import ConsentFacts, ContactFacts
from domain.incident import IncidentOpening, IncidentState, Refusal
from domain.incident.alarms import sound_due_alarms
from domain.incident.machine import apply_decision, open_incident, refusal
from domain.incident.state import AlarmName, Effects
from domain.protocols import protocol_for
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import (
    Channel,
    ConsentKind,
    ContactKind,
    CrisisType,
    DecisionKind,
    DisclosureBasis,
    Instrument,
    RiskLevel,
    Role,
    Stage,
)

OPENED = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
PROGRAM = UUID("00000000-0000-4000-8000-00000000000a")
CLINICIAN = Actor(staff_id="clin", role=Role.CLINICIAN, program_id=PROGRAM)
SUPERVISOR = Actor(staff_id="sup", role=Role.SUPERVISOR, program_id=PROGRAM)
FOLLOWUP = Actor(staff_id="fu", role=Role.FOLLOWUP, program_id=PROGRAM)
WIFE = ContactFacts(contact_id=uuid4(), kind=ContactKind.PERSONAL, name="Rosa Alvarez")
PART2_ID = uuid4()
CIWA_SEVERE = {  # total 26: severe withdrawal, risk high
    "nausea_vomiting": 4,
    "tremor": 4,
    "paroxysmal_sweats": 4,
    "anxiety": 4,
    "agitation": 4,
    "tactile_disturbances": 2,
    "auditory_disturbances": 1,
    "visual_disturbances": 1,
    "headache": 1,
    "orientation": 1,
}


def sos_incident(crisis_type: CrisisType = CrisisType.OTHER) -> IncidentState:
    return open_incident(
        IncidentOpening(
            incident_id=uuid4(),
            program_id=PROGRAM,
            client_id=uuid4(),
            crisis_type=crisis_type,
            summary="SOS pressed",
            owner_id=uuid4(),
            opened_by=CLINICIAN,
            opened_at=OPENED,
            protocol=protocol_for(crisis_type),
            origin="sos",
        ),
        OPENED,
    )


def asked(decision: object, actor: Actor = CLINICIAN, **extra: object) -> DecisionRequest:
    return DecisionRequest.model_validate(
        {"decision_id": uuid4(), "actor": actor, "decision": decision} | extra
    )


def reclassify_to(crisis_type: CrisisType, actor: Actor = CLINICIAN) -> DecisionRequest:
    return asked(
        Reclassify(crisis_type=crisis_type, reason="CIWA-Ar shows alcohol withdrawal"),
        actor,
        protocol=protocol_for(crisis_type),
    )


def decide(
    state: IncidentState, request: DecisionRequest, at: datetime, protocol: CrisisProtocol
) -> tuple[IncidentState, Effects]:
    assert refusal(state, protocol, request, at) is None
    return apply_decision(state, protocol, request, at)


def refused(
    state: IncidentState, request: DecisionRequest, protocol: CrisisProtocol | None = None
) -> Refusal:
    found = refusal(state, protocol or protocol_for(state.crisis_type), request, OPENED)
    assert found is not None
    return found


# --- reclassify --------------------------------------------------------------------------------


def test_reclassify_records_the_new_type_and_protocol_and_keeps_earlier_decisions() -> None:
    other = protocol_for(CrisisType.OTHER)
    noted, _ = decide(sos_incident(), asked(Note(text="Client shaking")), OPENED, other)
    at = OPENED + timedelta(minutes=1)
    state, effects = decide(noted, reclassify_to(CrisisType.WITHDRAWAL), at, other)

    assert state.crisis_type is CrisisType.WITHDRAWAL
    assert state.protocol_version == "withdrawal/2026-11.1"
    assert effects.protocol == protocol_for(CrisisType.WITHDRAWAL)
    assert [d.kind for d in state.decisions] == [DecisionKind.NOTE, DecisionKind.RECLASSIFY]
    entry = state.decisions[-1]
    assert entry.detail == {
        "from": "other",
        "to": "withdrawal",
        "protocol_version": "withdrawal/2026-11.1",
        "previous_protocol_version": "other/2026-11.1",
    }
    assert entry.documentation == {"reason": "CIWA-Ar shows alcohol withdrawal"}
    assert state.decisions[0] == noted.decisions[0]


def test_reclassify_gives_the_unsounded_timers_the_new_windows_from_when_armed() -> None:
    """other: 5 min to assess; overdose: 2 min (SPEC section 2, the protocols' windows)."""
    other = protocol_for(CrisisType.OTHER)
    opened = sos_incident()
    alarm = opened.alarm(AlarmName.ASSESSMENT_OVERDUE)
    assert alarm is not None and alarm.due_at == OPENED + timedelta(minutes=5)
    state, _ = decide(
        opened, reclassify_to(CrisisType.OVERDOSE), OPENED + timedelta(minutes=1), other
    )
    alarm = state.alarm(AlarmName.ASSESSMENT_OVERDUE)
    assert alarm is not None
    assert (alarm.armed_at, alarm.due_at) == (OPENED, OPENED + timedelta(minutes=2))
    assert state.alarms == sorted(state.alarms, key=lambda a: a.due_at)
    panic, _ = decide(opened, reclassify_to(CrisisType.PANIC), OPENED, other)
    alarm = panic.alarm(AlarmName.ASSESSMENT_OVERDUE)
    assert alarm is not None and alarm.due_at == OPENED + timedelta(minutes=10)


def test_a_timer_that_has_paged_keeps_its_backoff_after_reclassify() -> None:
    other = protocol_for(CrisisType.OTHER)
    late = OPENED + timedelta(minutes=5)
    paged, _ = sound_due_alarms(sos_incident(), other, late)
    alarm = paged.alarm(AlarmName.ASSESSMENT_OVERDUE)
    assert alarm is not None and alarm.pages_sent == 1
    due = alarm.due_at
    state, _ = decide(paged, reclassify_to(CrisisType.OVERDOSE), late, other)
    alarm = state.alarm(AlarmName.ASSESSMENT_OVERDUE)
    assert alarm is not None and alarm.due_at == due


def test_the_new_protocols_dispatch_threshold_applies_to_the_recorded_risk() -> None:
    """other requires a dispatch at imminent; overdose already at high."""
    other = protocol_for(CrisisType.OTHER)
    high, _ = decide(
        sos_incident(),
        asked(
            Assessment(
                instrument=Instrument.CLINICAL_JUDGEMENT,
                risk_override=RiskLevel.HIGH,
                justification="Slurred speech",
            )
        ),
        OPENED,
        other,
    )
    assert high.dispatch_required_since is None
    at = OPENED + timedelta(minutes=1)
    overdose, _ = decide(high, reclassify_to(CrisisType.OVERDOSE), at, other)
    assert overdose.dispatch_required_since == at
    assert DecisionKind.DISPATCH in overdose.required_steps
    withdrawal, _ = decide(high, reclassify_to(CrisisType.WITHDRAWAL), at, other)
    assert withdrawal.dispatch_required_since is None


def test_reclassify_is_refused_to_the_same_type_without_its_protocol_and_when_final() -> None:
    opened = sos_incident()
    same = refused(opened, reclassify_to(CrisisType.OTHER))
    assert (same.status, same.field, same.detail) == (
        409,
        "crisis_type",
        "crisis_type: the incident is already other",
    )
    bare = asked(Reclassify(crisis_type=CrisisType.OVERDOSE, reason="airway signs"))
    missing = refused(opened, bare)
    assert (missing.status, missing.field) == (409, "crisis_type")
    assert missing.detail == "crisis_type: the overdose protocol was not provided"
    wrong = asked(
        Reclassify(crisis_type=CrisisType.OVERDOSE, reason="airway signs"),
        protocol=protocol_for(CrisisType.WITHDRAWAL),
    )
    assert refused(opened, wrong).detail == "crisis_type: the overdose protocol was not provided"
    other = protocol_for(CrisisType.OTHER)
    cancelled, _ = decide(opened, asked(Cancel(reason="entered in error")), OPENED, other)
    final = refused(cancelled, reclassify_to(CrisisType.WITHDRAWAL))
    assert (final.status, final.code) == (409, "not_allowed_in_stage")
    assert DecisionKind.RECLASSIFY not in cancelled.allowed_decisions
    assert DecisionKind.RECLASSIFY in opened.allowed_decisions


def test_reclassify_is_for_clinicians_and_supervisors() -> None:
    other = protocol_for(CrisisType.OTHER)
    assert refused(sos_incident(), reclassify_to(CrisisType.WITHDRAWAL, FOLLOWUP)).status == 403
    state, _ = decide(
        sos_incident(), reclassify_to(CrisisType.WITHDRAWAL, SUPERVISOR), OPENED, other
    )
    assert state.crisis_type is CrisisType.WITHDRAWAL


def test_every_stage_but_the_final_ones_allows_reclassify() -> None:
    for crisis_type in CrisisType:
        protocol = protocol_for(crisis_type)
        for stage in Stage:
            assert protocol.allows(stage, DecisionKind.RECLASSIFY) is not stage.is_final


# --- notify_contacts: Part 2 scope and grounds ------------------------------------------------


def on_file(*consents: ConsentFacts, part2_program: bool = False) -> DisclosureContext:
    return DisclosureContext(
        contacts=[ContactOnFile(facts=WIFE, channels=(Channel.EMAIL, Channel.SMS), priority=1)],
        consents=list(consents),
        part2_program=part2_program,
    )


PART2 = ConsentFacts(
    contact_id=WIFE.contact_id, kind=ConsentKind.PART2, expires_at=None, consent_id=PART2_ID
)


def tell_wife(justification: str | None = None) -> NotifyContacts:
    return NotifyContacts(
        contact_ids=[WIFE.contact_id],
        basis=DisclosureBasis.SERIOUS_IMMINENT_THREAT,
        justification=justification,
    )


def test_an_sos_incident_after_ciwa_ar_needs_part2_consent_to_tell_family() -> None:
    other = protocol_for(CrisisType.OTHER)
    assessed, _ = decide(
        sos_incident(),
        asked(Assessment(instrument=Instrument.CIWA_AR, scores=CIWA_SEVERE)),
        OPENED,
        other,
    )
    assert assessed.risk_level is RiskLevel.HIGH
    found = refused(assessed, asked(tell_wife(), disclosure=on_file()))
    assert (found.status, found.code, found.field) == (
        409,
        "disclosure_refused:part2_written_consent_required",
        "basis",
    )
    told, effects = decide(assessed, asked(tell_wife(), disclosure=on_file(PART2)), OPENED, other)
    [recipient] = effects.ladders[0].recipients
    assert (recipient.recipient_id, recipient.consent_ids) == (WIFE.contact_id, (PART2_ID,))
    assert told.decisions[-1].detail["consent_ids"] == [str(PART2_ID)]


def test_after_reclassify_to_withdrawal_the_incident_is_part2() -> None:
    other = protocol_for(CrisisType.OTHER)
    withdrawal, _ = decide(sos_incident(), reclassify_to(CrisisType.WITHDRAWAL), OPENED, other)
    justified = tell_wife("Client says he will drive drunk")
    found = refused(withdrawal, asked(justified, disclosure=on_file()))
    assert found.code == "disclosure_refused:part2_written_consent_required"
    assert refusal(sos_incident(), other, asked(justified, disclosure=on_file()), OPENED) is None


def test_a_part2_program_needs_part2_consent_for_any_crisis_type() -> None:
    protocol = protocol_for(CrisisType.SUICIDAL_IDEATION)
    opened = sos_incident(CrisisType.SUICIDAL_IDEATION)
    justified = tell_wife("Plan and means disclosed")
    found = refused(opened, asked(justified, disclosure=on_file(part2_program=True)))
    assert found.code == "disclosure_refused:part2_written_consent_required"
    assert (
        refusal(
            opened,
            protocol,
            asked(justified, disclosure=on_file(PART2, part2_program=True)),
            OPENED,
        )
        is None
    )


def test_a_threat_on_an_unassessed_or_low_risk_incident_needs_a_justification() -> None:
    other = protocol_for(CrisisType.OTHER)
    for state in (
        sos_incident(),
        decide(
            sos_incident(),
            asked(
                Assessment(
                    instrument=Instrument.CLINICAL_JUDGEMENT,
                    risk_override=RiskLevel.MODERATE,
                    justification="Calmer",
                )
            ),
            OPENED,
            other,
        )[0],
    ):
        found = refused(state, asked(tell_wife(), disclosure=on_file()))
        assert (found.status, found.code, found.field) == (
            409,
            "disclosure_refused:grounds_not_recorded",
            "justification",
        )
        assert "45 CFR 164.512(j)" in found.detail
        told, _ = decide(
            state, asked(tell_wife("Threatened to jump"), disclosure=on_file()), OPENED, other
        )
        assert told.decisions[-1].documentation == {"justification": "Threatened to jump"}


def test_an_overdose_reclassified_to_other_still_needs_part2_consent_to_tell_family() -> None:
    """Part 2 protection is sticky: moving away from a substance-use type does not lift it."""
    overdose = protocol_for(CrisisType.OVERDOSE)
    opened = sos_incident(CrisisType.OVERDOSE)
    other, _ = decide(opened, reclassify_to(CrisisType.OTHER), OPENED, overdose)
    assert other.crisis_type is CrisisType.OTHER
    assert types_left(other) == [CrisisType.OVERDOSE]
    justified = tell_wife("Says he will drive after using")

    found = refused(other, asked(justified, disclosure=on_file()))

    assert (found.status, found.code, found.field) == (
        409,
        "disclosure_refused:part2_written_consent_required",
        "basis",
    )
    told, effects = decide(
        other, asked(justified, disclosure=on_file(PART2)), OPENED, protocol_for(CrisisType.OTHER)
    )
    [recipient] = effects.ladders[0].recipients
    assert recipient.consent_ids == (PART2_ID,)
    assert told.decisions[-1].detail["consent_ids"] == [str(PART2_ID)]


def test_protection_stays_through_several_reclassifies_and_never_arises_without_cause() -> None:
    at = OPENED + timedelta(minutes=1)
    withdrawal, _ = decide(
        sos_incident(CrisisType.PANIC),
        reclassify_to(CrisisType.WITHDRAWAL),
        OPENED,
        protocol_for(CrisisType.PANIC),
    )
    medical, _ = decide(
        withdrawal, reclassify_to(CrisisType.MEDICAL), at, protocol_for(CrisisType.WITHDRAWAL)
    )
    other, _ = decide(
        medical, reclassify_to(CrisisType.OTHER), at, protocol_for(CrisisType.MEDICAL)
    )
    assert types_left(other) == [CrisisType.PANIC, CrisisType.WITHDRAWAL, CrisisType.MEDICAL]
    justified = tell_wife("Threatened to jump")
    found = refused(other, asked(justified, disclosure=on_file()))
    assert found.code == "disclosure_refused:part2_written_consent_required"

    # Never a substance-use type, never a substance-use instrument: no Part 2 consent needed.
    calm, _ = decide(
        sos_incident(CrisisType.PANIC),
        reclassify_to(CrisisType.OTHER),
        OPENED,
        protocol_for(CrisisType.PANIC),
    )
    assert types_left(calm) == [CrisisType.PANIC]
    assert types_left(sos_incident()) == []
    other_protocol = protocol_for(CrisisType.OTHER)
    assert refusal(calm, other_protocol, asked(justified, disclosure=on_file()), OPENED) is None
