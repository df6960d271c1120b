"""Disclosure rules against SPEC section 2, with an oracle table written from the spec's words.

Every crisis type x basis x contact kind x consent state is checked against `ORACLE` below, which
is written out by hand rather than computed with the module's helpers.
"""

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from domain.disclosure import (
    ConsentFacts,
    ContactFacts,
    DisclosurePlan,
    current_consents,
    disclosure_refusal,
    plan_disclosure,
)
from domain.vocabulary import ConsentKind, ContactKind, CrisisType, DisclosureBasis

NOW = datetime(2026, 11, 14, 3, 27, tzinfo=UTC)
EASTERN = timezone(timedelta(hours=-5))
CONTACT_ID = UUID("6f1c2a8e-0000-4000-8000-000000000001")
OTHER_CONTACT_ID = UUID("6f1c2a8e-0000-4000-8000-000000000002")
CONTACT_NAME = "Marisol Quintanilla-Reyes"
FACILITY = "St. Brigid General Hospital ER"
DISCLOSED_BY = "staff:3b0c9d3e"
NATURE = "unresponsive after suspected opioid overdose"

SUD = (CrisisType.INTOXICATION, CrisisType.WITHDRAWAL, CrisisType.OVERDOSE)
HIPAA = (
    CrisisType.SUICIDAL_IDEATION,
    CrisisType.SELF_HARM,
    CrisisType.PANIC,
    CrisisType.PSYCHOSIS,
    CrisisType.MEDICAL,
    CrisisType.OTHER,
)

CONSENT, THREAT, INCAPACITY, EMERGENCY = (
    DisclosureBasis.CONSENT,
    DisclosureBasis.SERIOUS_IMMINENT_THREAT,
    DisclosureBasis.INCAPACITY,
    DisclosureBasis.MEDICAL_EMERGENCY,
)
PERSONAL, MEDICAL = ContactKind.PERSONAL, ContactKind.MEDICAL

# Consent states, in the column order of ORACLE.
STATES = (
    "none",
    "contact_disclosure",
    "part2",
    "part2_expired",
    "part2_revoked",
    "part2_other_contact",
    "contact_disclosure_and_part2",
)

_FUTURE = NOW + timedelta(days=30)
CONSENTS_BY_STATE: dict[str, tuple[ConsentFacts, ...]] = {
    "none": (),
    "contact_disclosure": (
        ConsentFacts(
            contact_id=CONTACT_ID, kind=ConsentKind.CONTACT_DISCLOSURE, expires_at=_FUTURE
        ),
    ),
    "part2": (ConsentFacts(contact_id=CONTACT_ID, kind=ConsentKind.PART2, expires_at=_FUTURE),),
    # Expiry exactly at `now` counts as expired.
    "part2_expired": (ConsentFacts(contact_id=CONTACT_ID, kind=ConsentKind.PART2, expires_at=NOW),),
    "part2_revoked": (
        ConsentFacts(
            contact_id=CONTACT_ID,
            kind=ConsentKind.PART2,
            expires_at=None,
            revoked_at=NOW - timedelta(hours=1),
        ),
    ),
    "part2_other_contact": (
        ConsentFacts(contact_id=OTHER_CONTACT_ID, kind=ConsentKind.PART2, expires_at=None),
    ),
    "contact_disclosure_and_part2": (
        ConsentFacts(contact_id=CONTACT_ID, kind=ConsentKind.CONTACT_DISCLOSURE, expires_at=None),
        ConsentFacts(contact_id=CONTACT_ID, kind=ConsentKind.PART2, expires_at=_FUTURE),
    ),
}

# Outcomes: OK allowed; DOC allowed with a Part 2 record; otherwise the rule of the refusal.
OK, DOC = "allowed", "allowed_with_part2_record"
P2 = "part2_written_consent_required"
MEPO = "medical_emergency_medical_personnel_only"
CNOF = "consent_not_on_file"

# Columns:            none  cd    part2 p2-exp p2-rev p2-other cd+part2
_PART2_CONSENT_ONLY = (P2, P2, OK, P2, P2, P2, OK)
_ANY_CONSENT = (CNOF, OK, OK, CNOF, CNOF, CNOF, OK)
_ALWAYS = (OK,) * 7
_PERSONNEL_ONLY = (MEPO,) * 7
_RECORDED = (DOC,) * 7

ORACLE: dict[tuple[str, DisclosureBasis, ContactKind], tuple[str, ...]] = {
    # 42 CFR Part 2: intoxication, withdrawal, overdose.
    ("sud", CONSENT, PERSONAL): _PART2_CONSENT_ONLY,
    ("sud", CONSENT, MEDICAL): _PART2_CONSENT_ONLY,
    ("sud", THREAT, PERSONAL): _PART2_CONSENT_ONLY,
    ("sud", THREAT, MEDICAL): _PART2_CONSENT_ONLY,
    ("sud", INCAPACITY, PERSONAL): _PART2_CONSENT_ONLY,
    ("sud", INCAPACITY, MEDICAL): _PART2_CONSENT_ONLY,
    ("sud", EMERGENCY, PERSONAL): _PERSONNEL_ONLY,
    ("sud", EMERGENCY, MEDICAL): _RECORDED,
    # HIPAA: every other crisis type.
    ("hipaa", CONSENT, PERSONAL): _ANY_CONSENT,
    ("hipaa", CONSENT, MEDICAL): _ANY_CONSENT,
    ("hipaa", THREAT, PERSONAL): _ALWAYS,
    ("hipaa", THREAT, MEDICAL): _ALWAYS,
    ("hipaa", INCAPACITY, PERSONAL): _ALWAYS,
    ("hipaa", INCAPACITY, MEDICAL): _ALWAYS,
    ("hipaa", EMERGENCY, PERSONAL): _PERSONNEL_ONLY,
    ("hipaa", EMERGENCY, MEDICAL): _ALWAYS,
}


def _expected(
    crisis_type: CrisisType, basis: DisclosureBasis, kind: ContactKind, state: str
) -> str:
    group = "sud" if crisis_type in SUD else "hipaa"
    return ORACLE[(group, basis, kind)][STATES.index(state)]


def _contact(kind: ContactKind) -> ContactFacts:
    facility = FACILITY if kind is MEDICAL else None
    return ContactFacts(contact_id=CONTACT_ID, kind=kind, name=CONTACT_NAME, facility=facility)


CASES = [
    pytest.param(crisis_type, basis, kind, state, id=f"{crisis_type}-{basis}-{kind}-{state}")
    for crisis_type, basis, kind, state in itertools.product(
        CrisisType, DisclosureBasis, ContactKind, STATES
    )
]


def test_the_oracle_covers_every_crisis_type_basis_and_kind() -> None:
    assert set(SUD) | set(HIPAA) == set(CrisisType)
    assert not set(SUD) & set(HIPAA)
    assert set(CONSENTS_BY_STATE) == set(STATES)
    assert set(ORACLE) == set(itertools.product(("sud", "hipaa"), DisclosureBasis, ContactKind))
    assert len(CASES) == 9 * 4 * 2 * 7


# The regulation each refusal must cite.
REGULATION = {
    P2: "42 CFR Part 2",
    MEPO: "42 CFR 2.51",
    CNOF: "45 CFR 164.510",
    "part2_emergency_nature_required": "42 CFR 2.51(c)",
}


def _assert_no_phi_and_names_regulation(rule: str, detail: str) -> None:
    assert REGULATION[rule] in detail
    assert CONTACT_NAME not in detail
    assert FACILITY not in detail


@pytest.mark.parametrize(("crisis_type", "basis", "kind", "state"), CASES)
def test_disclosure_refusal_follows_the_spec(
    crisis_type: CrisisType, basis: DisclosureBasis, kind: ContactKind, state: str
) -> None:
    refusal = disclosure_refusal(
        crisis_type=crisis_type,
        basis=basis,
        contact=_contact(kind),
        consents=CONSENTS_BY_STATE[state],
        now=NOW,
    )

    expected = _expected(crisis_type, basis, kind, state)
    if expected in (OK, DOC):
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.rule == expected
        assert refusal.contact_id == CONTACT_ID
        _assert_no_phi_and_names_regulation(expected, refusal.detail)


@pytest.mark.parametrize(("crisis_type", "basis", "kind", "state"), CASES)
def test_plan_disclosure_follows_the_spec(
    crisis_type: CrisisType, basis: DisclosureBasis, kind: ContactKind, state: str
) -> None:
    plan = plan_disclosure(
        crisis_type=crisis_type,
        basis=basis,
        contacts=[_contact(kind)],
        consents=CONSENTS_BY_STATE[state],
        now=NOW,
        disclosed_by=DISCLOSED_BY,
        nature_of_emergency=NATURE,
    )

    expected = _expected(crisis_type, basis, kind, state)
    if expected in (OK, DOC):
        assert plan.allowed == (CONTACT_ID,)
        assert plan.refusals == ()
    else:
        assert plan.allowed == ()
        assert [(r.contact_id, r.rule) for r in plan.refusals] == [(CONTACT_ID, expected)]
        _assert_no_phi_and_names_regulation(expected, plan.refusals[0].detail)
    if expected == DOC:
        [record] = plan.part2_documentation
        assert record.contact_id == CONTACT_ID
        assert record.medical_personnel == CONTACT_NAME
        assert record.facility == FACILITY
        assert record.disclosed_by == DISCLOSED_BY
        assert record.disclosed_at == NOW
        assert record.nature_of_emergency == NATURE
    else:
        assert plan.part2_documentation == ()


def _emergency_plan(
    crisis_type: CrisisType, nature: str | None, contacts: list[ContactFacts] | None = None
) -> DisclosurePlan:
    return plan_disclosure(
        crisis_type=crisis_type,
        basis=EMERGENCY,
        contacts=contacts if contacts is not None else [_contact(MEDICAL)],
        consents=(),
        now=NOW,
        disclosed_by=DISCLOSED_BY,
        nature_of_emergency=nature,
    )


@pytest.mark.parametrize("nature", [None, "", "   \n"], ids=["none", "empty", "blank"])
@pytest.mark.parametrize("crisis_type", SUD)
def test_part2_medical_emergency_without_the_nature_of_the_emergency_is_refused(
    crisis_type: CrisisType, nature: str | None
) -> None:
    plan = _emergency_plan(crisis_type, nature)

    assert plan.allowed == ()
    assert plan.part2_documentation == ()
    [refusal] = plan.refusals
    assert refusal.contact_id == CONTACT_ID
    assert refusal.rule == "part2_emergency_nature_required"
    _assert_no_phi_and_names_regulation(refusal.rule, refusal.detail)


@pytest.mark.parametrize("crisis_type", SUD)
def test_part2_record_keeps_the_nature_trimmed_and_a_missing_facility(
    crisis_type: CrisisType,
) -> None:
    contact = ContactFacts(contact_id=CONTACT_ID, kind=MEDICAL, name="Dr. Okafor")

    plan = _emergency_plan(crisis_type, f"  {NATURE}  ", [contact])

    [record] = plan.part2_documentation
    assert record.medical_personnel == "Dr. Okafor"
    assert record.facility is None
    assert record.nature_of_emergency == NATURE


@pytest.mark.parametrize("crisis_type", HIPAA)
def test_hipaa_medical_emergency_needs_neither_nature_nor_part2_record(
    crisis_type: CrisisType,
) -> None:
    plan = _emergency_plan(crisis_type, None)

    assert plan.allowed == (CONTACT_ID,)
    assert plan.refusals == ()
    assert plan.part2_documentation == ()


@pytest.mark.parametrize("crisis_type", SUD)
def test_part2_consent_disclosure_to_medical_contact_needs_no_nature(
    crisis_type: CrisisType,
) -> None:
    plan = plan_disclosure(
        crisis_type=crisis_type,
        basis=CONSENT,
        contacts=[_contact(MEDICAL)],
        consents=CONSENTS_BY_STATE["part2"],
        now=NOW,
        disclosed_by=DISCLOSED_BY,
        nature_of_emergency=None,
    )

    assert plan.allowed == (CONTACT_ID,)
    assert plan.part2_documentation == ()


def test_plan_sorts_several_contacts_in_order_and_records_only_the_allowed() -> None:
    er, physician, sister, brother = uuid4(), uuid4(), uuid4(), uuid4()
    contacts = [
        ContactFacts(contact_id=sister, kind=PERSONAL, name="Ana"),
        ContactFacts(contact_id=er, kind=MEDICAL, name="Triage nurse", facility="County ER"),
        ContactFacts(contact_id=brother, kind=PERSONAL, name="Luis"),
        ContactFacts(contact_id=physician, kind=MEDICAL, name="Dr. Patel"),
    ]
    # A Part 2 consent for the sister does not make a medical-emergency disclosure to her lawful.
    consents = [ConsentFacts(contact_id=sister, kind=ConsentKind.PART2, expires_at=None)]

    plan = plan_disclosure(
        crisis_type=CrisisType.OVERDOSE,
        basis=EMERGENCY,
        contacts=contacts,
        consents=consents,
        now=NOW,
        disclosed_by=DISCLOSED_BY,
        nature_of_emergency=NATURE,
    )

    assert plan.allowed == (er, physician)
    assert [(r.contact_id, r.rule) for r in plan.refusals] == [(sister, MEPO), (brother, MEPO)]
    assert [(d.contact_id, d.medical_personnel, d.facility) for d in plan.part2_documentation] == [
        (er, "Triage nurse", "County ER"),
        (physician, "Dr. Patel", None),
    ]


def test_a_contact_named_twice_is_planned_and_recorded_once() -> None:
    plan = _emergency_plan(CrisisType.WITHDRAWAL, NATURE, [_contact(MEDICAL), _contact(MEDICAL)])

    assert plan.allowed == (CONTACT_ID,)
    assert len(plan.part2_documentation) == 1


def test_plan_with_mixed_consents_refuses_only_the_contacts_without_one() -> None:
    with_consent, without = uuid4(), uuid4()
    plan = plan_disclosure(
        crisis_type=CrisisType.PANIC,
        basis=CONSENT,
        contacts=[
            ContactFacts(contact_id=without, kind=PERSONAL, name="Ana"),
            ContactFacts(contact_id=with_consent, kind=PERSONAL, name="Luis"),
        ],
        consents=[
            ConsentFacts(
                contact_id=with_consent, kind=ConsentKind.CONTACT_DISCLOSURE, expires_at=None
            )
        ],
        now=NOW,
        disclosed_by=DISCLOSED_BY,
        nature_of_emergency=None,
    )

    assert plan.allowed == (with_consent,)
    assert [(r.contact_id, r.rule) for r in plan.refusals] == [(without, CNOF)]


def _consent(
    *,
    contact_id: UUID | None = CONTACT_ID,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> ConsentFacts:
    return ConsentFacts(
        contact_id=contact_id,
        kind=ConsentKind.PART2,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


@pytest.mark.parametrize(
    ("consent", "current"),
    [
        pytest.param(_consent(), True, id="open-ended"),
        pytest.param(
            _consent(expires_at=NOW + timedelta(microseconds=1)), True, id="expires-after"
        ),
        pytest.param(_consent(expires_at=NOW), False, id="expires-exactly-now"),
        pytest.param(_consent(expires_at=NOW - timedelta(days=1)), False, id="expired"),
        pytest.param(_consent(revoked_at=NOW), False, id="revoked-exactly-now"),
        pytest.param(_consent(revoked_at=NOW - timedelta(days=1)), False, id="revoked"),
        pytest.param(_consent(revoked_at=NOW + timedelta(days=1)), True, id="revocation-ahead"),
        pytest.param(_consent(contact_id=OTHER_CONTACT_ID), False, id="other-contact"),
        pytest.param(_consent(contact_id=None), False, id="no-contact"),
        pytest.param(
            _consent(expires_at=NOW.astimezone(EASTERN)), False, id="expires-now-other-zone"
        ),
        pytest.param(
            _consent(expires_at=NOW.astimezone(EASTERN) + timedelta(seconds=1)),
            True,
            id="expires-after-other-zone",
        ),
    ],
)
def test_current_consents(consent: ConsentFacts, current: bool) -> None:
    assert current_consents([consent], CONTACT_ID, NOW) == ([consent] if current else [])


def test_current_consents_keeps_every_current_consent_of_the_contact_in_order() -> None:
    disclosure = ConsentFacts(
        contact_id=CONTACT_ID, kind=ConsentKind.CONTACT_DISCLOSURE, expires_at=None
    )
    part2 = _consent(expires_at=_FUTURE)
    consents = [disclosure, _consent(expires_at=NOW), _consent(contact_id=None), part2]

    assert current_consents(consents, CONTACT_ID, NOW) == [disclosure, part2]


@pytest.mark.parametrize(
    ("crisis_type", "rule"),
    [(CrisisType.PANIC, CNOF), (CrisisType.INTOXICATION, P2)],
    ids=["hipaa", "part2"],
)
@pytest.mark.parametrize("kind", ContactKind)
def test_a_consent_without_a_contact_covers_no_contact(
    crisis_type: CrisisType, rule: str, kind: ContactKind
) -> None:
    consents = [
        ConsentFacts(contact_id=None, kind=ConsentKind.PART2, expires_at=None),
        ConsentFacts(contact_id=None, kind=ConsentKind.CONTACT_DISCLOSURE, expires_at=None),
    ]

    refusal = disclosure_refusal(
        crisis_type=crisis_type, basis=CONSENT, contact=_contact(kind), consents=consents, now=NOW
    )

    assert refusal is not None
    assert refusal.rule == rule


_NAIVE_NOW = NOW.replace(tzinfo=None)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: current_consents([], CONTACT_ID, _NAIVE_NOW), id="current_consents"),
        pytest.param(
            lambda: disclosure_refusal(
                crisis_type=CrisisType.PANIC,
                basis=CONSENT,
                contact=_contact(PERSONAL),
                consents=[],
                now=_NAIVE_NOW,
            ),
            id="disclosure_refusal",
        ),
        pytest.param(
            lambda: plan_disclosure(
                crisis_type=CrisisType.PANIC,
                basis=THREAT,
                contacts=[],
                consents=[],
                now=_NAIVE_NOW,
                disclosed_by=DISCLOSED_BY,
                nature_of_emergency=None,
            ),
            id="plan_disclosure",
        ),
    ],
)
def test_a_naive_now_is_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


@pytest.mark.parametrize("field", ["expires_at", "revoked_at"])
def test_a_naive_consent_time_is_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ConsentFacts.model_validate(
            {"contact_id": CONTACT_ID, "kind": "part2", "expires_at": None, field: _NAIVE_NOW}
        )


@pytest.mark.parametrize("disclosed_by", ["", "  "])
def test_a_plan_without_who_discloses_is_rejected(disclosed_by: str) -> None:
    with pytest.raises(ValueError, match="disclosed_by"):
        _plan_by(disclosed_by)


def _plan_by(disclosed_by: str) -> DisclosurePlan:
    return plan_disclosure(
        crisis_type=CrisisType.OVERDOSE,
        basis=EMERGENCY,
        contacts=[_contact(MEDICAL)],
        consents=(),
        now=NOW,
        disclosed_by=disclosed_by,
        nature_of_emergency=NATURE,
    )
