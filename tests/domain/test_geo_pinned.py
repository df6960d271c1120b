"""Coordinates and locating a client (SPEC section 4: the directory is searched near the client)."""

from dataclasses import dataclass

import pytest

from domain.geo import Coordinates, coordinates_for_zip, locate


@dataclass(frozen=True)
class Where:
    address: str | None = None
    zip: str | None = None
    lat: float | None = None
    lon: float | None = None


@pytest.mark.parametrize(("lat", "lon"), [(-90, -180), (90, 180), (-90, 180), (90, -180)])
def test_the_poles_and_the_antimeridian_are_on_the_map(lat: float, lon: float) -> None:
    assert (Coordinates(lat, lon).lat, Coordinates(lat, lon).lon) == (lat, lon)


@pytest.mark.parametrize(("lat", "lon"), [(-90.5, 0), (90.5, 0), (0, -180.5), (0, 180.5)])
def test_points_off_the_map_are_refused(lat: float, lon: float) -> None:
    with pytest.raises(ValueError, match="is not between"):
        Coordinates(lat, lon)


def test_half_a_coordinate_falls_back_to_the_zip_code() -> None:
    assert locate(Where(zip="97201", lat=45.5)) == coordinates_for_zip("97201")
    assert locate(Where(zip="97201", lon=-122.7)) == coordinates_for_zip("97201")
