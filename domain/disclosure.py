"""Who may be told about an incident, and on what basis (SPEC section 2, "Disclosure").

Pure rules for a `notify_contacts` decision: facts about the contacts and the client's consents
in, a `DisclosurePlan` out (the contacts that may be notified, a refusal naming the rule for each
one that may not, the consents each allowed contact's disclosure rests on, and the 42 CFR 2.51(c)
record of every medical-emergency disclosure under Part 2). Whether an incident is Part 2-protected
(SPEC 10.2: the program, the crisis type it has or had, the instruments used on it) and whether a
threat or incapacity basis has its grounds are rules here too. No I/O and no clock: the caller
passes `now`, so a workflow can call these too.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from domain.vocabulary import (
    ConsentKind,
    ContactKind,
    CrisisType,
    DisclosureBasis,
    Instrument,
    RiskLevel,
)

_Text = Annotated[str, Field(min_length=1)]


class DisclosureRule(StrEnum):
    """Stable codes of the rules a refusal names."""

    MEDICAL_EMERGENCY_MEDICAL_PERSONNEL_ONLY = "medical_emergency_medical_personnel_only"
    PART2_WRITTEN_CONSENT_REQUIRED = "part2_written_consent_required"
    PART2_EMERGENCY_NATURE_REQUIRED = "part2_emergency_nature_required"
    CONSENT_NOT_ON_FILE = "consent_not_on_file"
    GROUNDS_NOT_RECORDED = "grounds_not_recorded"


# Plain sentences naming the rule and the regulation; never the contact (no PHI in refusals).
_RULE_DETAIL: dict[DisclosureRule, str] = {
    DisclosureRule.MEDICAL_EMERGENCY_MEDICAL_PERSONNEL_ONLY: (
        "The medical-emergency exception (42 CFR 2.51) permits disclosure to medical personnel "
        "only, and this is a personal contact."
    ),
    DisclosureRule.PART2_WRITTEN_CONSENT_REQUIRED: (
        "Substance-use incidents are protected by 42 CFR Part 2: disclosure to this contact needs "
        "a current written Part 2 consent (42 CFR 2.31) on file for this contact, unless it is "
        "medical personnel under the medical-emergency exception (42 CFR 2.51)."
    ),
    DisclosureRule.PART2_EMERGENCY_NATURE_REQUIRED: (
        "A medical-emergency disclosure under 42 CFR 2.51 must record the nature of the "
        "emergency (42 CFR 2.51(c)), and none was given."
    ),
    DisclosureRule.CONSENT_NOT_ON_FILE: (
        "The consent basis (45 CFR 164.510(b)) needs a current disclosure consent on file for "
        "this contact, and none is current."
    ),
    DisclosureRule.GROUNDS_NOT_RECORDED: (
        "A disclosure under serious_imminent_threat (45 CFR 164.512(j)) or incapacity "
        "(45 CFR 164.510(b)(3)) needs its grounds: a recorded risk of high or imminent, or a "
        "justification on the decision."
    ),
}

# Instruments of substance use: once one is recorded on an incident, its record is Part 2's.
PART2_INSTRUMENTS = frozenset({Instrument.CIWA_AR, Instrument.COWS, Instrument.OVERDOSE_SIGNS})
# Bases that rest on the clinician's judgement of the situation rather than on a consent.
_JUDGED_BASES = frozenset({DisclosureBasis.SERIOUS_IMMINENT_THREAT, DisclosureBasis.INCAPACITY})
# Shortest justification that counts as one (as for a risk override).
MIN_JUSTIFICATION = 3


class ContactFacts(BaseModel, frozen=True):
    contact_id: UUID
    kind: ContactKind
    name: _Text
    facility: str | None = None


class ConsentFacts(BaseModel, frozen=True):
    contact_id: UUID | None
    # The consent's own id: what a contact ladder re-reads before each message it sends.
    consent_id: UUID | None = None
    kind: ConsentKind
    expires_at: AwareDatetime | None
    revoked_at: AwareDatetime | None = None


class DisclosureRefusal(BaseModel, frozen=True):
    contact_id: UUID
    rule: DisclosureRule
    detail: _Text


class Part2Documentation(BaseModel, frozen=True):
    """What 42 CFR 2.51(c) asks to be recorded after a medical-emergency disclosure."""

    contact_id: UUID
    medical_personnel: _Text
    facility: str | None
    disclosed_by: _Text
    disclosed_at: AwareDatetime
    nature_of_emergency: _Text


class ConsentReliance(BaseModel, frozen=True):
    """The consents an allowed disclosure to one contact rests on: while one of them is current,
    the contact may still be told; once none is (revoked, expired), nothing more is sent."""

    contact_id: UUID
    consent_ids: tuple[UUID, ...]


class DisclosurePlan(BaseModel, frozen=True):
    """Whether to notify the allowed contacts when some are refused is the caller's choice."""

    allowed: tuple[UUID, ...]
    refusals: tuple[DisclosureRefusal, ...]
    part2_documentation: tuple[Part2Documentation, ...]
    relies_on: tuple[ConsentReliance, ...] = ()


def part2_protected(
    *,
    crisis_type: CrisisType,
    part2_program: bool = False,
    assessed_with: Iterable[str] = (),
    earlier_types: Iterable[CrisisType] = (),
) -> bool:
    """42 CFR Part 2 protects the incident (SPEC 10.2): every incident of a Part 2 program; in any
    program a substance-use crisis type, or once a substance-use instrument was recorded on it.
    The protection stays: an incident reclassified away from a substance-use type (one of its
    `earlier_types`) is still the record of a substance-use crisis."""
    return (
        part2_program
        or crisis_type.is_substance_use
        or any(earlier.is_substance_use for earlier in earlier_types)
        or any(instrument in PART2_INSTRUMENTS for instrument in assessed_with)
    )


def grounds_refusal(
    *, basis: DisclosureBasis, risk_level: RiskLevel | None, justification: str | None
) -> DisclosureRule | None:
    """A threat or incapacity basis needs a recorded risk of high or imminent, or the
    clinician's justification on the decision (SPEC 10.2); other bases have their own rules."""
    if basis not in _JUDGED_BASES:
        return None
    if risk_level is not None and risk_level.at_least(RiskLevel.HIGH):
        return None
    if len((justification or "").strip()) >= MIN_JUSTIFICATION:
        return None
    return DisclosureRule.GROUNDS_NOT_RECORDED


def rule_detail(rule: DisclosureRule) -> str:
    """The plain sentence a refusal under `rule` gives (it names the regulation, never PHI)."""
    return _RULE_DETAIL[rule]


def still_consented(consents: Sequence[ConsentFacts], contact_id: UUID, now: datetime) -> bool:
    """Whether a disclosure that rested on `consents` may still reach `contact_id` at `now`:
    one of them is current for that contact."""
    return bool(current_consents(consents, contact_id, now))


def current_consents(
    consents: Sequence[ConsentFacts], contact_id: UUID, now: datetime
) -> list[ConsentFacts]:
    """The consents for `contact_id` that are neither revoked nor expired at `now`."""
    _require_aware(now)
    return [
        consent
        for consent in consents
        # Consents are kept per client and contact: one without a contact covers no contact.
        if consent.contact_id is not None
        and consent.contact_id == contact_id
        and (consent.revoked_at is None or consent.revoked_at > now)
        and (consent.expires_at is None or consent.expires_at > now)
    ]


def disclosure_refusal(
    *,
    crisis_type: CrisisType,
    basis: DisclosureBasis,
    contact: ContactFacts,
    consents: Sequence[ConsentFacts],
    now: datetime,
    part2_program: bool = False,
    assessed_with: Iterable[str] = (),
    earlier_types: Iterable[CrisisType] = (),
) -> DisclosureRefusal | None:
    """Why `basis` does not permit telling `contact` about a `crisis_type` incident, or None.

    The record a Part 2 medical-emergency disclosure needs is checked by `plan_disclosure`.
    """
    if basis is DisclosureBasis.MEDICAL_EMERGENCY and contact.kind is ContactKind.PERSONAL:
        return _refusal(contact, DisclosureRule.MEDICAL_EMERGENCY_MEDICAL_PERSONNEL_ONLY)
    current = current_consents(consents, contact.contact_id, now)
    if part2_protected(
        crisis_type=crisis_type,
        part2_program=part2_program,
        assessed_with=assessed_with,
        earlier_types=earlier_types,
    ):
        if basis is DisclosureBasis.MEDICAL_EMERGENCY:
            return None
        if not any(consent.kind is ConsentKind.PART2 for consent in current):
            return _refusal(contact, DisclosureRule.PART2_WRITTEN_CONSENT_REQUIRED)
        return None
    if basis is DisclosureBasis.CONSENT and not current:
        return _refusal(contact, DisclosureRule.CONSENT_NOT_ON_FILE)
    return None


def plan_disclosure(
    *,
    crisis_type: CrisisType,
    basis: DisclosureBasis,
    contacts: Sequence[ContactFacts],
    consents: Sequence[ConsentFacts],
    now: datetime,
    disclosed_by: str,
    nature_of_emergency: str | None,
    part2_program: bool = False,
    assessed_with: Sequence[str] = (),
    earlier_types: Sequence[CrisisType] = (),
) -> DisclosurePlan:
    """Sort `contacts` (in order, each once) into allowed and refused, with Part 2 records and
    the consents each allowed disclosure rests on."""
    _require_aware(now)
    if not disclosed_by.strip():
        raise ValueError("disclosed_by must name who discloses")
    nature = (nature_of_emergency or "").strip()
    part2 = part2_protected(
        crisis_type=crisis_type,
        part2_program=part2_program,
        assessed_with=assessed_with,
        earlier_types=earlier_types,
    )
    part2_emergency = part2 and basis is DisclosureBasis.MEDICAL_EMERGENCY
    allowed: list[UUID] = []
    refusals: list[DisclosureRefusal] = []
    documentation: list[Part2Documentation] = []
    relies_on: list[ConsentReliance] = []
    seen: set[UUID] = set()
    for contact in contacts:
        # A contact named twice is told once, and its disclosure recorded once.
        if contact.contact_id in seen:
            continue
        seen.add(contact.contact_id)
        refusal = disclosure_refusal(
            crisis_type=crisis_type,
            basis=basis,
            contact=contact,
            consents=consents,
            now=now,
            part2_program=part2_program,
            assessed_with=assessed_with,
            earlier_types=earlier_types,
        )
        if refusal is None and part2_emergency and not nature:
            refusal = _refusal(contact, DisclosureRule.PART2_EMERGENCY_NATURE_REQUIRED)
        if refusal is not None:
            refusals.append(refusal)
            continue
        allowed.append(contact.contact_id)
        relied = _relied_on(part2, basis, contact.contact_id, consents, now)
        if relied:
            relies_on.append(ConsentReliance(contact_id=contact.contact_id, consent_ids=relied))
        if part2_emergency:
            documentation.append(
                Part2Documentation(
                    contact_id=contact.contact_id,
                    medical_personnel=contact.name,
                    facility=contact.facility,
                    disclosed_by=disclosed_by,
                    disclosed_at=now,
                    nature_of_emergency=nature,
                )
            )
    return DisclosurePlan(
        allowed=tuple(allowed),
        refusals=tuple(refusals),
        part2_documentation=tuple(documentation),
        relies_on=tuple(relies_on),
    )


def _relied_on(
    part2: bool,
    basis: DisclosureBasis,
    contact_id: UUID,
    consents: Sequence[ConsentFacts],
    now: datetime,
) -> tuple[UUID, ...]:
    """The consents an allowed disclosure rests on: the Part 2 consents under Part 2 (but for a
    medical emergency, which rests on none), any current consent under the consent basis."""
    if basis is DisclosureBasis.MEDICAL_EMERGENCY:
        return ()
    if part2:
        kinds = {ConsentKind.PART2}
    elif basis is DisclosureBasis.CONSENT:
        kinds = set(ConsentKind)
    else:
        return ()
    return tuple(
        c.consent_id
        for c in current_consents(consents, contact_id, now)
        if c.kind in kinds and c.consent_id is not None
    )


def _refusal(contact: ContactFacts, rule: DisclosureRule) -> DisclosureRefusal:
    return DisclosureRefusal(contact_id=contact.contact_id, rule=rule, detail=_RULE_DETAIL[rule])


def _require_aware(now: datetime) -> None:
    # Consent times are timezone-aware; a naive `now` cannot be compared with them.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
