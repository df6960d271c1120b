"""SPEC 10.2's disclosure rules, pinned on both sides of each: Part 2 scope (the program, the
crisis type, the instruments used), the grounds a threat or incapacity basis needs, and the
consents a disclosure rests on (what a running ladder re-reads before each message)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.disclosure import (
    ConsentFacts,
    ContactFacts,
    DisclosureRule,
    disclosure_refusal,
    grounds_refusal,
    part2_protected,
    plan_disclosure,
    rule_detail,
    still_consented,
)
from domain.vocabulary import ConsentKind, ContactKind, CrisisType, DisclosureBasis, RiskLevel

NOW = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
WIFE = ContactFacts(
    contact_id=UUID("7a000000-0000-4000-8000-000000000001"),
    kind=ContactKind.PERSONAL,
    name="Rosa Alvarez",
)
PHYSICIAN = ContactFacts(
    contact_id=UUID("7a000000-0000-4000-8000-000000000002"),
    kind=ContactKind.MEDICAL,
    name="Dr. Chen",
    facility="Eastside Clinic",
)
PART2_CONSENT = ConsentFacts(
    contact_id=WIFE.contact_id,
    kind=ConsentKind.PART2,
    expires_at=NOW + timedelta(days=90),
    consent_id=UUID("7a000000-0000-4000-8000-0000000000c1"),
)
DISCLOSURE_CONSENT = ConsentFacts(
    contact_id=WIFE.contact_id,
    kind=ConsentKind.CONTACT_DISCLOSURE,
    expires_at=None,
    consent_id=UUID("7a000000-0000-4000-8000-0000000000c2"),
)
THREAT, INCAPACITY = DisclosureBasis.SERIOUS_IMMINENT_THREAT, DisclosureBasis.INCAPACITY
CONSENT, EMERGENCY = DisclosureBasis.CONSENT, DisclosureBasis.MEDICAL_EMERGENCY

# --- Part 2 scope --------------------------------------------------------------------------------

NOT_SUBSTANCE_USE = [
    CrisisType.SUICIDAL_IDEATION,
    CrisisType.SELF_HARM,
    CrisisType.PANIC,
    CrisisType.PSYCHOSIS,
    CrisisType.MEDICAL,
    CrisisType.OTHER,
]


@pytest.mark.parametrize("crisis_type", NOT_SUBSTANCE_USE)
def test_outside_substance_use_an_incident_is_not_part2_by_default(
    crisis_type: CrisisType,
) -> None:
    assert part2_protected(crisis_type=crisis_type) is False
    assert part2_protected(crisis_type=crisis_type, assessed_with=["cssrs_screener"]) is False
    assert part2_protected(crisis_type=crisis_type, assessed_with=["clinical_judgement"]) is False


@pytest.mark.parametrize("crisis_type", NOT_SUBSTANCE_USE)
def test_a_part2_program_protects_every_incident(crisis_type: CrisisType) -> None:
    assert part2_protected(crisis_type=crisis_type, part2_program=True) is True


@pytest.mark.parametrize(
    "crisis_type", [CrisisType.INTOXICATION, CrisisType.WITHDRAWAL, CrisisType.OVERDOSE]
)
def test_substance_use_types_are_part2_in_any_program(crisis_type: CrisisType) -> None:
    assert part2_protected(crisis_type=crisis_type, part2_program=False) is True


@pytest.mark.parametrize("instrument", ["ciwa_ar", "cows", "overdose_signs"])
def test_a_substance_use_instrument_makes_any_incident_part2(instrument: str) -> None:
    assert part2_protected(crisis_type=CrisisType.OTHER, assessed_with=[instrument]) is True
    later = ["cssrs_screener", instrument, "clinical_judgement"]
    assert part2_protected(crisis_type=CrisisType.PANIC, assessed_with=later) is True


@pytest.mark.parametrize(
    "earlier", [CrisisType.INTOXICATION, CrisisType.WITHDRAWAL, CrisisType.OVERDOSE]
)
def test_part2_protection_stays_once_the_incident_had_a_substance_use_type(
    earlier: CrisisType,
) -> None:
    """overdose, then reclassified to other: still the record of a substance-use crisis."""
    assert part2_protected(crisis_type=CrisisType.OTHER, earlier_types=[earlier]) is True
    moved_on = [CrisisType.PANIC, earlier, CrisisType.MEDICAL]
    assert part2_protected(crisis_type=CrisisType.OTHER, earlier_types=moved_on) is True
    refused = disclosure_refusal(
        crisis_type=CrisisType.OTHER,
        basis=THREAT,
        contact=WIFE,
        consents=[DISCLOSURE_CONSENT],
        now=NOW,
        earlier_types=[earlier],
    )
    assert refused is not None
    assert refused.rule is DisclosureRule.PART2_WRITTEN_CONSENT_REQUIRED

    def plan(consents: list[ConsentFacts]) -> tuple[object, ...]:
        found = plan_disclosure(
            crisis_type=CrisisType.OTHER,
            basis=THREAT,
            contacts=[WIFE],
            consents=consents,
            now=NOW,
            disclosed_by="staff:1",
            nature_of_emergency=None,
            earlier_types=[earlier],
        )
        relied = tuple(r.consent_ids for r in found.relies_on)
        return found.allowed, tuple(r.rule for r in found.refusals), relied

    assert plan([DISCLOSURE_CONSENT]) == ((), (DisclosureRule.PART2_WRITTEN_CONSENT_REQUIRED,), ())
    assert plan([DISCLOSURE_CONSENT, PART2_CONSENT]) == (
        (WIFE.contact_id,),
        (),
        ((PART2_CONSENT.consent_id,),),
    )


@pytest.mark.parametrize("crisis_type", NOT_SUBSTANCE_USE)
def test_earlier_types_outside_substance_use_do_not_make_an_incident_part2(
    crisis_type: CrisisType,
) -> None:
    assert part2_protected(crisis_type=crisis_type, earlier_types=NOT_SUBSTANCE_USE) is False
    allowed = disclosure_refusal(
        crisis_type=crisis_type,
        basis=THREAT,
        contact=WIFE,
        consents=[],
        now=NOW,
        earlier_types=NOT_SUBSTANCE_USE,
    )
    assert allowed is None
    found = plan_disclosure(
        crisis_type=crisis_type,
        basis=CONSENT,
        contacts=[WIFE],
        consents=[DISCLOSURE_CONSENT, PART2_CONSENT],
        now=NOW,
        disclosed_by="staff:1",
        nature_of_emergency=None,
        earlier_types=NOT_SUBSTANCE_USE,
    )
    # Outside Part 2 the consent basis rests on every current consent, not the Part 2 one only.
    assert found.relies_on[0].consent_ids == (
        DISCLOSURE_CONSENT.consent_id,
        PART2_CONSENT.consent_id,
    )


def test_an_sos_incident_assessed_with_ciwa_ar_refuses_his_wife_without_part2_consent() -> None:
    """The issue's reproduction: `other` + CIWA-Ar, the wife under serious_imminent_threat."""
    refused = disclosure_refusal(
        crisis_type=CrisisType.OTHER,
        basis=THREAT,
        contact=WIFE,
        consents=[DISCLOSURE_CONSENT],
        now=NOW,
        assessed_with=["ciwa_ar"],
    )
    assert refused is not None
    assert refused.rule is DisclosureRule.PART2_WRITTEN_CONSENT_REQUIRED
    allowed = disclosure_refusal(
        crisis_type=CrisisType.OTHER,
        basis=THREAT,
        contact=WIFE,
        consents=[PART2_CONSENT],
        now=NOW,
        assessed_with=["ciwa_ar"],
    )
    assert allowed is None
    unassessed = disclosure_refusal(
        crisis_type=CrisisType.OTHER, basis=THREAT, contact=WIFE, consents=[], now=NOW
    )
    assert unassessed is None


def test_a_part2_program_refuses_family_without_part2_consent_for_suicidal_ideation() -> None:
    def plan(part2_program: bool, consents: list[ConsentFacts]) -> tuple[object, ...]:
        found = plan_disclosure(
            crisis_type=CrisisType.SUICIDAL_IDEATION,
            basis=THREAT,
            contacts=[WIFE],
            consents=consents,
            now=NOW,
            disclosed_by="staff:1",
            nature_of_emergency=None,
            part2_program=part2_program,
        )
        return found.allowed, tuple(r.rule for r in found.refusals)

    assert plan(True, [DISCLOSURE_CONSENT]) == (
        (),
        (DisclosureRule.PART2_WRITTEN_CONSENT_REQUIRED,),
    )
    assert plan(True, [PART2_CONSENT]) == ((WIFE.contact_id,), ())
    assert plan(False, []) == ((WIFE.contact_id,), ())


def test_a_medical_emergency_in_a_part2_program_is_recorded_under_2_51() -> None:
    found = plan_disclosure(
        crisis_type=CrisisType.MEDICAL,
        basis=EMERGENCY,
        contacts=[PHYSICIAN],
        consents=[],
        now=NOW,
        disclosed_by="staff:1",
        nature_of_emergency="seizure",
        part2_program=True,
    )
    [record] = found.part2_documentation
    assert (record.medical_personnel, record.nature_of_emergency) == ("Dr. Chen", "seizure")
    outside = plan_disclosure(
        crisis_type=CrisisType.MEDICAL,
        basis=EMERGENCY,
        contacts=[PHYSICIAN],
        consents=[],
        now=NOW,
        disclosed_by="staff:1",
        nature_of_emergency="seizure",
    )
    assert outside.part2_documentation == ()


# --- grounds for a threat or incapacity basis ----------------------------------------------------


@pytest.mark.parametrize("basis", [THREAT, INCAPACITY])
@pytest.mark.parametrize("risk", [None, RiskLevel.LOW, RiskLevel.MODERATE])
def test_threat_and_incapacity_below_high_risk_need_a_justification(
    basis: DisclosureBasis, risk: RiskLevel | None
) -> None:
    for missing in (None, "", "  \n ", "ok"):
        assert grounds_refusal(basis=basis, risk_level=risk, justification=missing) is (
            DisclosureRule.GROUNDS_NOT_RECORDED
        )
    assert grounds_refusal(basis=basis, risk_level=risk, justification="yes") is None
    assert (
        grounds_refusal(basis=basis, risk_level=risk, justification="Said he has the pills") is None
    )


@pytest.mark.parametrize("basis", [THREAT, INCAPACITY])
@pytest.mark.parametrize("risk", [RiskLevel.HIGH, RiskLevel.IMMINENT])
def test_threat_and_incapacity_at_high_risk_need_no_justification(
    basis: DisclosureBasis, risk: RiskLevel
) -> None:
    assert grounds_refusal(basis=basis, risk_level=risk, justification=None) is None


@pytest.mark.parametrize("basis", [CONSENT, EMERGENCY])
def test_consent_and_medical_emergency_have_rules_of_their_own(basis: DisclosureBasis) -> None:
    assert grounds_refusal(basis=basis, risk_level=None, justification=None) is None


def test_the_grounds_rule_names_the_regulations_and_what_is_missing() -> None:
    detail = rule_detail(DisclosureRule.GROUNDS_NOT_RECORDED)
    assert "45 CFR 164.512(j)" in detail
    assert "164.510(b)(3)" in detail
    assert "high or imminent" in detail
    assert "justification" in detail
    assert DisclosureRule.GROUNDS_NOT_RECORDED == "grounds_not_recorded"


# --- what a disclosure rests on ------------------------------------------------------------------


def _relies_on(
    crisis_type: CrisisType,
    basis: DisclosureBasis,
    consents: list[ConsentFacts],
    contact: ContactFacts = WIFE,
) -> dict[UUID, tuple[UUID, ...]]:
    found = plan_disclosure(
        crisis_type=crisis_type,
        basis=basis,
        contacts=[contact],
        consents=consents,
        now=NOW,
        disclosed_by="staff:1",
        nature_of_emergency="unresponsive",
    )
    return {r.contact_id: r.consent_ids for r in found.relies_on}


def test_under_part2_a_disclosure_rests_on_the_part2_consents_only() -> None:
    both = [DISCLOSURE_CONSENT, PART2_CONSENT]
    assert _relies_on(CrisisType.WITHDRAWAL, THREAT, both) == {
        WIFE.contact_id: (PART2_CONSENT.consent_id,)
    }
    assert _relies_on(CrisisType.WITHDRAWAL, CONSENT, both) == {
        WIFE.contact_id: (PART2_CONSENT.consent_id,)
    }


def test_the_consent_basis_rests_on_every_current_consent_of_the_contact() -> None:
    expired = PART2_CONSENT.model_copy(update={"expires_at": NOW})
    assert _relies_on(CrisisType.PANIC, CONSENT, [DISCLOSURE_CONSENT, expired]) == {
        WIFE.contact_id: (DISCLOSURE_CONSENT.consent_id,)
    }
    assert _relies_on(CrisisType.PANIC, CONSENT, [DISCLOSURE_CONSENT, PART2_CONSENT]) == {
        WIFE.contact_id: (DISCLOSURE_CONSENT.consent_id, PART2_CONSENT.consent_id)
    }


def test_a_threat_outside_part2_and_a_medical_emergency_rest_on_no_consent() -> None:
    assert _relies_on(CrisisType.PANIC, THREAT, [DISCLOSURE_CONSENT, PART2_CONSENT]) == {}
    assert _relies_on(CrisisType.OVERDOSE, EMERGENCY, [PART2_CONSENT], PHYSICIAN) == {}


def test_a_refused_contact_rests_on_nothing_and_an_idless_consent_is_not_relied_on() -> None:
    assert _relies_on(CrisisType.WITHDRAWAL, THREAT, [DISCLOSURE_CONSENT]) == {}
    idless = PART2_CONSENT.model_copy(update={"consent_id": None})
    assert _relies_on(CrisisType.WITHDRAWAL, THREAT, [idless]) == {}


def test_a_ladder_still_may_send_only_while_one_relied_on_consent_is_current() -> None:
    revoked = PART2_CONSENT.model_copy(update={"revoked_at": NOW - timedelta(minutes=1)})
    expired = PART2_CONSENT.model_copy(update={"expires_at": NOW - timedelta(seconds=1)})
    assert still_consented([PART2_CONSENT], WIFE.contact_id, NOW) is True
    assert still_consented([revoked], WIFE.contact_id, NOW) is False
    assert still_consented([expired], WIFE.contact_id, NOW) is False
    assert still_consented([revoked, DISCLOSURE_CONSENT], WIFE.contact_id, NOW) is True
    assert still_consented([], WIFE.contact_id, NOW) is False
    assert still_consented([PART2_CONSENT], PHYSICIAN.contact_id, NOW) is False
