"""Opening hours of directory resources: minutes kept exactly, refusals that name the day."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.hours import HoursError, is_open, normalized_hours

PORTLAND = ZoneInfo("America/Los_Angeles")


def test_minutes_past_the_hour_are_kept() -> None:
    assert normalized_hours({"mon": "09:30-17:45"}) == {"mon": "09:30-17:45"}


def test_a_refusal_names_the_day_and_the_problem() -> None:
    with pytest.raises(HoursError) as raised:
        normalized_hours({"tue": "9-5"})
    assert raised.value.day == "tue"
    assert raised.value.problem == "'9-5' is not HH:MM-HH:MM (or several, comma-separated)"
    assert str(raised.value) == "tue: '9-5' is not HH:MM-HH:MM (or several, comma-separated)"


def test_a_span_that_opens_and_closes_at_once_is_refused() -> None:
    with pytest.raises(HoursError) as raised:
        normalized_hours({"wed": "08:00-08:00"})
    assert str(raised.value) == "wed: '08:00-08:00' opens and closes at the same time"


def test_an_unknown_day_is_refused_without_a_day_prefix() -> None:
    with pytest.raises(HoursError) as raised:
        normalized_hours({"monday": "closed"})
    assert raised.value.day is None
    assert str(raised.value) == "'monday' is not a day; use mon, tue, wed, thu, fri, sat, sun"


def test_a_bad_stored_schedule_names_its_day_when_asked_if_open() -> None:
    monday_noon = datetime(2026, 11, 16, 20, 0, tzinfo=UTC)
    with pytest.raises(HoursError) as raised:
        is_open(open_24_7=False, hours={"mon": "noon"}, zone=PORTLAND, at=monday_noon)
    assert raised.value.day == "mon"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^`at` must be timezone-aware$"):
        is_open(open_24_7=True, hours={}, zone=PORTLAND, at=datetime(2026, 11, 16, 12))
