"""The SLA report's arithmetic (SPEC 10.4): type 7 percentiles, intervals, follow-up shares."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.sla import (
    ALL,
    MEASURES,
    Durations,
    IncidentFacts,
    followed_up_within,
    followup_window_closed,
    interval_seconds,
    percentile,
    sla_report,
    sla_row,
    window_refusal,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Long after every time the tests draw: every follow-up window has closed.
LATER = T0 + timedelta(days=400)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def facts(crisis_type: str = "panic", **times: float | int | None) -> IncidentFacts:
    pages = times.pop("pages", 0)
    return IncidentFacts(
        crisis_type=crisis_type,
        opened_at=T0,
        pages=int(pages or 0),
        **{name: None if s is None else at(s) for name, s in times.items()},  # type: ignore[arg-type]
    )


# --- percentiles ----------------------------------------------------------------------------


def test_no_values_have_no_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([], 0.9) is None


@pytest.mark.parametrize("p", [0, 0.5, 0.9, 1])
def test_one_value_is_every_percentile(p: float) -> None:
    assert percentile([42.0], p) == 42.0


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4], 0.5, 2.5),
        ([4, 1, 3, 2], 0.5, 2.5),  # the order given does not matter
        ([1, 2, 3, 4], 0.9, 3.7),  # h = 2.7: x[2] + 0.7 * (x[3] - x[2])
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 1, 4),
        ([10, 20], 0.9, 19),
        ([10, 20, 30], 0.5, 20),  # h = 1 exactly: x[1], no interpolation
        ([0, 100, 100, 1000], 0.5, 100),
        ([3, 7, 8, 5, 12, 14, 21, 13, 18], 0.9, 18.6),  # h = 7.2 over 3 5 7 8 12 13 14 18 21
    ],
)
def test_percentiles_interpolate_linearly_between_order_statistics(
    values: list[float], p: float, expected: float
) -> None:
    assert percentile(values, p) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "values",
    [[5.0, 1.0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [0.5, 90, 3600, 7, 7, 7, 86400, 12, 600, 61, 2]],
)
def test_percentiles_are_statistics_inclusive_quantiles(values: list[float]) -> None:
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    assert percentile(values, 0.5) == pytest.approx(deciles[4])
    assert percentile(values, 0.9) == pytest.approx(deciles[8])
    assert percentile(values, 0.5) == pytest.approx(statistics.median(values))


@pytest.mark.parametrize("p", [-0.01, 1.01, 50])
def test_a_percentile_outside_zero_to_one_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile([1.0, 2.0], p)


# --- intervals and follow-up windows --------------------------------------------------------


def test_an_interval_needs_both_ends_in_order() -> None:
    assert interval_seconds(at(0), at(90)) == 90.0
    assert interval_seconds(at(0), at(0)) == 0.0
    assert interval_seconds(at(0), at(0.5)) == 0.5
    assert interval_seconds(at(10), at(9)) is None
    assert interval_seconds(None, at(9)) is None
    assert interval_seconds(at(9), None) is None


DAY = 86400


@pytest.mark.parametrize(
    ("followup_after", "days", "within"),
    [
        (7 * DAY, 7, True),  # exactly 7 days counts
        (7 * DAY + 1, 7, False),
        (0, 7, True),
        (30 * DAY, 30, True),
        (30 * DAY + 1, 30, False),
        (8 * DAY, 30, True),
        (-1, 7, False),  # before the disposition: not a follow-up of it
    ],
)
def test_a_followup_within_the_window_counts(followup_after: int, days: int, within: bool) -> None:
    incident = facts(disposition_at=100, first_followup_completed_at=100 + followup_after)
    assert followed_up_within(incident, days) is within


def test_no_disposition_or_no_completed_followup_is_not_within() -> None:
    assert not followed_up_within(facts(first_followup_completed_at=10), 7)
    assert not followed_up_within(facts(disposition_at=10), 30)


# --- rows -----------------------------------------------------------------------------------


def test_a_row_gives_median_and_p90_of_each_measure_over_the_incidents_that_have_it() -> None:
    incidents = [
        facts(first_assessment_at=60, notified_at=100, first_acknowledged_at=160, pages=1),
        facts(first_assessment_at=120, dispatched_at=0, first_arrival_at=600, pages=2),
        facts(first_assessment_at=300, notified_at=50, pages=0),  # notified, never acknowledged
        facts(pages=3),  # never assessed
    ]
    row = sla_row("panic", incidents, as_of=LATER)
    assert row.crisis_type == "panic"
    assert row.incidents == 4
    assert row.measures["open_to_assessment"] == Durations(3, 120.0, pytest.approx(264.0))
    assert row.measures["notify_to_acknowledgement"] == Durations(1, 60.0, 60.0)
    assert row.measures["dispatch_to_arrival"] == Durations(1, 600.0, 600.0)
    assert row.measures["disposition_to_followup"] == Durations(0, None, None)
    assert row.pages_per_incident == 1.5
    assert row.dispositions == 0
    assert row.followup_within_7_days is None
    assert row.followup_within_30_days is None


def test_followup_shares_are_of_the_incidents_with_a_disposition() -> None:
    incidents = [
        facts(disposition_at=0, first_followup_completed_at=7 * DAY),
        facts(disposition_at=0, first_followup_completed_at=20 * DAY),
        facts(disposition_at=0, first_followup_completed_at=31 * DAY),
        facts(disposition_at=0),
        facts(),  # no disposition: not in the share at all
    ]
    row = sla_row("medical", incidents, as_of=LATER)
    assert row.dispositions == 4
    assert (row.followup_7d_eligible, row.followup_30d_eligible) == (4, 4)
    assert row.followup_within_7_days == 0.25
    assert row.followup_within_30_days == 0.5
    assert row.measures["disposition_to_followup"] == Durations(
        3,
        20.0 * DAY,
        pytest.approx(28.8 * DAY),  # h = 1.8: 20 + 0.8 * 11 days
    )


US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("as_of", "days", "closed"),
    [
        (at(100) + timedelta(days=7), 7, True),  # closing exactly at `as_of` is closed
        (at(100) + timedelta(days=7) - US, 7, False),
        (at(100) + timedelta(days=30), 30, True),
        (at(100) + timedelta(days=30) - US, 30, False),
        (at(100) + timedelta(days=8), 30, False),
    ],
)
def test_a_followup_window_is_closed_from_its_last_day_on(
    as_of: datetime, days: int, closed: bool
) -> None:
    assert followup_window_closed(facts(disposition_at=100), days, as_of) is closed


def test_without_a_disposition_there_is_no_window_to_close() -> None:
    assert not followup_window_closed(facts(first_followup_completed_at=0), 7, LATER)


def test_a_followup_share_counts_only_windows_closed_by_as_of() -> None:
    incidents = [
        facts(disposition_at=0, first_followup_completed_at=DAY),  # hit, closed for both
        facts(disposition_at=0),  # miss, closed for both
        # Closes its 7 days exactly at `as_of`, followed up then: counted, a hit.
        facts(disposition_at=23 * DAY, first_followup_completed_at=30 * DAY),
        # A microsecond later: still open for 7 days, though its follow-up is done (not counted).
        facts(disposition_at=23 * DAY + 0.000001, first_followup_completed_at=23 * DAY + 60),
        facts(disposition_at=29 * DAY),  # open for both: neither a hit nor a miss
        facts(),  # no disposition
    ]
    row = sla_row("panic", incidents, as_of=at(30 * DAY))
    assert row.dispositions == 5
    assert row.followup_7d_eligible == 3
    assert row.followup_within_7_days == pytest.approx(2 / 3)
    assert row.followup_30d_eligible == 2
    assert row.followup_within_30_days == 0.5


def test_a_share_with_every_window_open_is_null_not_zero() -> None:
    incidents = [facts(disposition_at=0, first_followup_completed_at=60), facts(disposition_at=0)]
    row = sla_row("panic", incidents, as_of=at(7 * DAY) - US)
    assert row.dispositions == 2
    assert (row.followup_7d_eligible, row.followup_within_7_days) == (0, None)
    assert (row.followup_30d_eligible, row.followup_within_30_days) == (0, None)
    assert sla_report(incidents, [], as_of=at(7 * DAY))[-1].followup_within_7_days == 0.5


def test_an_empty_group_has_nulls_not_zeros() -> None:
    row = sla_row("psychosis", [], as_of=LATER)
    assert row.incidents == 0
    assert row.pages_per_incident is None
    assert all(d == Durations(0, None, None) for d in row.measures.values())
    assert set(row.measures) == {m.name for m in MEASURES}


def test_pages_per_incident_is_the_mean_including_incidents_without_pages() -> None:
    row = sla_row("x", [facts(pages=0), facts(pages=0), facts(pages=3)], as_of=LATER)
    assert row.pages_per_incident == 1


# --- the report -----------------------------------------------------------------------------


def test_the_report_has_a_row_per_type_in_the_given_order_then_others_then_all() -> None:
    incidents = [
        facts("panic", first_assessment_at=10),
        facts("zeta", first_assessment_at=20),
        facts("alpha", first_assessment_at=30),
        facts("panic", first_assessment_at=50),
    ]
    rows = sla_report(incidents, ["psychosis", "panic", "psychosis"], as_of=LATER)
    assert [r.crisis_type for r in rows] == ["psychosis", "panic", "alpha", "zeta", ALL]
    assert [r.incidents for r in rows] == [0, 2, 1, 1, 4]
    assert rows[1].measures["open_to_assessment"].median == 30.0
    assert rows[-1].measures["open_to_assessment"].median == 25.0
    assert rows[-1].measures["open_to_assessment"].p90 == pytest.approx(44.0)


def test_a_report_of_nothing_is_an_all_row_of_nulls() -> None:
    rows = sla_report([], [], as_of=LATER)
    assert [r.crisis_type for r in rows] == [ALL]
    assert rows[0].incidents == 0
    assert rows[0].pages_per_incident is None


# --- the window -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "refusal"),
    [
        (timedelta(seconds=1), None),
        (timedelta(days=366), None),  # exactly 366 days is allowed
        (timedelta(days=366, microseconds=1), ("to", "must be at most 366 days after from")),
        (timedelta(0), ("to", "must be after from")),
        (timedelta(seconds=-1), ("to", "must be after from")),
    ],
)
def test_a_window_runs_forward_at_most_366_days(
    length: timedelta, refusal: tuple[str, str] | None
) -> None:
    assert window_refusal(T0, T0 + length) == refusal


EAST, WEST = timezone(timedelta(hours=1)), timezone(timedelta(hours=-1))


@pytest.mark.parametrize(
    ("start", "end", "refusal"),
    [
        (
            datetime(1, 1, 1, tzinfo=EAST),
            T0,
            ("from", "must be a time in the years 1 to 9999 in UTC"),
        ),
        (
            T0,
            datetime(9999, 12, 31, 23, 30, tzinfo=WEST),
            ("to", "must be a time in the years 1 to 9999 in UTC"),
        ),
        (datetime(1, 1, 1, 1, tzinfo=EAST), datetime(1, 1, 2, tzinfo=UTC), None),
        (datetime(9999, 12, 30, tzinfo=UTC), datetime(9999, 12, 31, 22, tzinfo=WEST), None),
    ],
)
def test_a_window_is_of_times_utc_can_hold(
    start: datetime, end: datetime, refusal: tuple[str, str] | None
) -> None:
    assert window_refusal(start, end) == refusal
