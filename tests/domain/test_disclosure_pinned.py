"""Disclosure planning edges (SPEC section 2): each contact judged on its own, once."""

from datetime import UTC, datetime, timedelta, tzinfo
from uuid import UUID

import pytest

from domain.disclosure import ContactFacts, DisclosurePlan, plan_disclosure
from domain.vocabulary import ContactKind, CrisisType, DisclosureBasis

NOW = datetime(2026, 11, 14, 3, 27, tzinfo=UTC)
MOTHER = ContactFacts(
    contact_id=UUID("6f1c2a8e-0000-4000-8000-000000000001"),
    kind=ContactKind.PERSONAL,
    name="Marisol Quintanilla-Reyes",
)
ER = ContactFacts(
    contact_id=UUID("6f1c2a8e-0000-4000-8000-000000000002"),
    kind=ContactKind.MEDICAL,
    name="Dr. Okafor",
    facility="St. Brigid General Hospital ER",
)


class NoOffset(tzinfo):
    """A tzinfo that does not know its offset: as unusable as no tzinfo at all."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


def plan(contacts: list[ContactFacts], **overrides: object) -> DisclosurePlan:
    arguments: dict[str, object] = {
        "crisis_type": CrisisType.OVERDOSE,
        "basis": DisclosureBasis.MEDICAL_EMERGENCY,
        "contacts": contacts,
        "consents": [],
        "now": NOW,
        "disclosed_by": "staff:3b0c9d3e",
        "nature_of_emergency": "unresponsive after suspected opioid overdose",
    } | overrides
    return plan_disclosure(**arguments)  # type: ignore[arg-type]


def test_a_repeated_contact_does_not_stop_the_contacts_after_it() -> None:
    result = plan([ER, ER, MOTHER])
    assert result.allowed == (ER.contact_id,)
    # Part 2: a personal contact needs written consent even in a medical emergency.
    assert [r.contact_id for r in result.refusals] == [MOTHER.contact_id]


def test_a_nameless_discloser_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"^disclosed_by must name who discloses$"):
        plan([ER], disclosed_by="  ")


@pytest.mark.parametrize(
    "now", [datetime(2026, 11, 14, 3, 27), datetime(2026, 11, 14, tzinfo=NoOffset())]
)
def test_a_time_without_an_offset_is_refused(now: datetime) -> None:
    with pytest.raises(ValueError, match=r"^now must be timezone-aware$"):
        plan([ER], now=now)
