"""What the OpenAPI document states of a caller's JSON is what the validators enforce: the same
values pass both, the same values fail both (the document's pattern for opening hours and the
parser of `domain.hours`; RFC 3339 date-times; JSON types without pydantic's lax coercions)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import jsonschema_rs
import pytest
from pydantic import ValidationError

from domain.hours import HOURS_SCHEMA, HoursError, parse_day
from domain.location import Location
from domain.models.clients import ConsentCreate
from domain.models.json_types import RFC3339
from domain.models.programs import StaffCreate
from domain.vocabulary import ConsentKind

HOURS = [
    "closed",
    " Closed ",
    "08:00-20:00",
    "20:00-02:00",
    "00:00-24:00",
    "08:00-12:00, 13:00-17:00",
    "08:00-08:00",
    "08:00-12:00,13:00-13:00",
    "24:00-01:00",
    "8:00-20:00",
    "08:00-20:00,",
    "open",
    "",
]


def _parses(value: str) -> bool:
    try:
        parse_day("mon", value)
    except HoursError:
        return False
    return True


@pytest.mark.parametrize("value", HOURS)
def test_the_documented_hours_pattern_agrees_with_the_parser(value: str) -> None:
    pattern = HOURS_SCHEMA["properties"]["mon"]["pattern"]  # type: ignore[index]
    checker = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})

    assert checker.is_valid(value) == _parses(value)
    assert bool(re.search(pattern, value)) == _parses(value)


@pytest.mark.parametrize(
    ("text", "is_date_time"),
    [
        ("2026-01-31T22:00:00Z", True),
        ("2026-01-31T22:00:00.5+01:00", True),
        ("0.5", False),
        ("1738360800", False),
        ("2026-01-31", False),
        ("2026-01-31T22:00:00", False),  # no zone
    ],
)
def test_a_date_time_is_rfc3339_text_with_its_zone(text: str, is_date_time: bool) -> None:
    assert bool(RFC3339.match(text)) == is_date_time


@pytest.mark.parametrize(
    "sent",
    [
        {"on_call": 0},
        {"on_call": "true"},
    ],
)
def test_a_boolean_is_true_or_false_not_what_pydantic_would_coerce(sent: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="on_call: must be true or false"):
        StaffCreate.model_validate({"name": "Dr. Oz", "role": "clinician", **sent})


@pytest.mark.parametrize("lat", [True, "45.5"])
def test_a_coordinate_is_a_number_not_a_boolean_or_text(lat: object) -> None:
    with pytest.raises(ValidationError, match="lat: must be a number"):
        Location.model_validate({"lat": lat, "lon": -122.6})


def test_values_built_in_python_still_pass() -> None:
    assert Location.model_validate({"lat": 45, "lon": -122.6}).lat == 45.0
    assert StaffCreate.model_validate({"name": "A", "role": "admin", "on_call": True}).on_call
    expires = datetime(2030, 1, 31, 22, tzinfo=UTC)
    consent = ConsentCreate.model_validate(
        {"kind": ConsentKind.CONTACT_DISCLOSURE, "expires_at": expires}
    )
    assert consent.expires_at == expires


def test_a_date_time_a_caller_sends_must_say_its_zone() -> None:
    with pytest.raises(ValidationError, match="expires_at: must be a date-time with its zone"):
        ConsentCreate.model_validate({"kind": "part2", "expires_at": 1738360800})
