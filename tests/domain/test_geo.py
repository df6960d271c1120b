"""Where the client is and what is open: distances, zip codes, locations and opening hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.decisions import Location
from domain.geo import (
    Coordinates,
    coordinates_for_zip,
    haversine_km,
    haversine_miles,
    locate,
    zip_in_address,
)
from domain.hours import HoursError, is_open, normalized_hours
from infra.seed import DEMO_RESOURCES

PORTLAND_97201 = Coordinates(lat=45.5078, lon=-122.6897)  # the bundled centroid of 97201
BELLEVUE_HOSPITAL = Coordinates(lat=40.7394, lon=-73.9754)  # 462 First Ave, New York
LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")


def close_to(expected: float) -> object:
    return pytest.approx(expected, rel=0.005)


# --- distances -----------------------------------------------------------------------------


def test_one_degree_due_north_is_r_times_pi_over_180() -> None:
    # Along a meridian the great circle is the meridian: d = R * dphi.
    # 6371.0088 km * pi/180 = 6371.0088 * 0.0174532925 = 104.719755 + 6.475172 + 0.000154
    #                       = 111.1951 km  (= 69.093 mi at 1.609344 km/mi)
    north = Coordinates(lat=PORTLAND_97201.lat + 1, lon=PORTLAND_97201.lon)
    assert haversine_km(PORTLAND_97201, north) == close_to(111.1951)
    assert haversine_miles(PORTLAND_97201, north) == close_to(69.093)


def test_portland_to_new_york_matches_the_spherical_law_of_cosines_by_hand() -> None:
    # Independent check with cos c = sin p1 sin p2 + cos p1 cos p2 cos dl, Taylor-expanded
    # around round angles by hand:
    #   p1 = 45.5078: sin 0.713346, cos 0.700812   p2 = 40.7394: sin 0.652620, cos 0.757685
    #   dl = 122.6897 - 73.9754 = 48.7143: cos 0.659814
    #   cos c = 0.465544 + 0.530995 * 0.659814 = 0.815902
    #   c = 35 deg + 0.0056434 rad = 0.6165086 rad; d = 6371.0088 * 0.6165086 = 3927.78 km
    assert haversine_km(PORTLAND_97201, BELLEVUE_HOSPITAL) == close_to(3927.78)
    assert haversine_miles(PORTLAND_97201, BELLEVUE_HOSPITAL) == close_to(3927.78 / 1.609344)
    assert haversine_km(BELLEVUE_HOSPITAL, PORTLAND_97201) == pytest.approx(
        haversine_km(PORTLAND_97201, BELLEVUE_HOSPITAL)
    )
    assert haversine_km(PORTLAND_97201, PORTLAND_97201) == 0


def test_coordinates_off_the_globe_are_refused() -> None:
    with pytest.raises(ValueError, match="lat"):
        Coordinates(lat=91, lon=0)
    with pytest.raises(ValueError, match="lon"):
        Coordinates(lat=0, lon=-181)


# --- zip codes and locations ---------------------------------------------------------------


def test_a_zip_code_is_placed_at_its_centroid_offline() -> None:
    assert coordinates_for_zip("97201") == PORTLAND_97201
    assert coordinates_for_zip("97201-1234") == PORTLAND_97201
    assert coordinates_for_zip("00000") is None
    assert coordinates_for_zip("972") is None
    assert coordinates_for_zip("not a zip") is None


def test_the_zip_of_an_address_is_its_last_five_digit_group() -> None:
    assert zip_in_address("12345 SW Canyon Rd, Portland, OR 97201") == "97201"
    assert zip_in_address("1225 NE 2nd Ave, Portland, OR 97232-2003") == "97232"
    assert zip_in_address("under the Burnside Bridge") is None


def test_a_location_is_found_by_coordinates_then_zip_then_the_zip_in_its_address() -> None:
    assert locate(Location(lat=45.52, lon=-122.68, zip="10016")) == Coordinates(45.52, -122.68)
    assert locate(Location(zip="97201")) == PORTLAND_97201
    assert locate(Location(address="12345 SW Canyon Rd, Portland, OR 97201")) == PORTLAND_97201
    unknown_zip_known_address = Location(zip="00000", address="1 Main St, Portland, OR 97201")
    assert locate(unknown_zip_known_address) == PORTLAND_97201
    assert locate(Location(address="under the Burnside Bridge")) is None
    assert locate(Location(zip="00000")) is None


def test_every_demo_resource_lies_near_its_zip_code() -> None:
    for resource in DEMO_RESOURCES:
        if resource.zip is None:
            continue
        centroid = coordinates_for_zip(resource.zip)
        assert centroid is not None, resource.name
        here = Coordinates(lat=resource.lat, lon=resource.lon)
        assert haversine_km(centroid, here) < 3, resource.name


# --- opening hours -------------------------------------------------------------------------

# January 2025: Monday the 6th, Friday the 10th, Saturday the 11th, Sunday the 12th.
WEEK = {
    "mon": "08:00-20:00",
    "tue": "08:00-20:00",
    "wed": "08:00-20:00",
    "thu": "08:00-20:00",
    "fri": "08:00-12:00,20:00-02:00",
    "sat": "10:00-14:00",
    "sun": "closed",
}


def open_in_la(local: datetime, hours: dict[str, str] = WEEK) -> bool:
    return is_open(open_24_7=False, hours=hours, zone=LA, at=local.replace(tzinfo=LA))


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2025, 1, 12, 12, 0), False),  # Sunday: closed
        (datetime(2025, 1, 6, 7, 59), False),
        (datetime(2025, 1, 6, 8, 0), True),
        (datetime(2025, 1, 6, 19, 59), True),
        (datetime(2025, 1, 6, 20, 0), False),
        (datetime(2025, 1, 10, 12, 30), False),  # Friday between its two spans
        (datetime(2025, 1, 10, 23, 0), True),
        (datetime(2025, 1, 11, 1, 59), True),  # Friday's span runs past midnight
        (datetime(2025, 1, 11, 2, 0), False),
        (datetime(2025, 1, 11, 10, 30), True),
        (datetime(2025, 1, 12, 1, 0), False),  # Saturday's span does not
    ],
)
def test_a_schedule_is_read_on_the_local_clock(local: datetime, expected: bool) -> None:
    assert open_in_la(local) is expected


def test_the_same_instant_is_open_in_one_timezone_and_not_in_another() -> None:
    instant = datetime(2025, 1, 6, 15, 30, tzinfo=UTC)  # 07:30 in Portland, 10:30 in New York
    assert is_open(open_24_7=False, hours=WEEK, zone=LA, at=instant) is False
    assert is_open(open_24_7=False, hours=WEEK, zone=NY, at=instant) is True
    summer = datetime(2025, 7, 7, 15, 30, tzinfo=UTC)  # 08:30 PDT on a Monday
    assert is_open(open_24_7=False, hours=WEEK, zone=LA, at=summer) is True


def test_round_the_clock_and_unknown_hours() -> None:
    sunday = datetime(2025, 1, 12, 12, 0, tzinfo=LA)
    assert is_open(open_24_7=True, hours={}, zone=LA, at=sunday) is True
    assert is_open(open_24_7=False, hours={}, zone=LA, at=sunday) is False
    assert open_in_la(datetime(2025, 1, 12, 3, 0), {"sun": "00:00-24:00"}) is True
    assert open_in_la(datetime(2025, 1, 12, 23, 59), {"sun": "00:00-24:00"}) is True
    with pytest.raises(ValueError, match="aware"):
        is_open(open_24_7=False, hours=WEEK, zone=LA, at=datetime(2025, 1, 6, 9, 0))


def test_hours_are_normalized_and_bad_ones_name_their_day() -> None:
    assert normalized_hours({"sun": " Closed ", "mon": "08:00-12:00 , 13:00-24:00"}) == {
        "mon": "08:00-12:00,13:00-24:00",
        "sun": "closed",
    }
    for hours, day in [
        ({"mon": "8am-5pm"}, "mon"),
        ({"tue": "8:00-17:00"}, "tue"),
        ({"wed": "09:00-25:00"}, "wed"),
        ({"thu": "09:00-09:00"}, "thu"),
        ({"fri": ""}, "fri"),
        ({"Funday": "09:00-17:00"}, None),
    ]:
        with pytest.raises(HoursError) as raised:
            normalized_hours(hours)
        assert raised.value.day == day
