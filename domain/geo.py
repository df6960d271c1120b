"""Where things are: coordinates, great-circle distances, and US zip codes to coordinates.

Zip codes are looked up in the `zipcodes` package's bundled data (each zip's centroid), so a
search near a client never leaves the machine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import zipcodes

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
KM_PER_MILE = 1.609344

_ZIP = re.compile(r"^([0-9]{5})(?:-[0-9]{4})?$")
_ZIP_IN_ADDRESS = re.compile(r"\b([0-9]{5})(?:-[0-9]{4})?\b")


@dataclass(frozen=True, slots=True)
class Coordinates:
    """A point in decimal degrees (WGS 84)."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90 <= self.lat <= 90:
            raise ValueError(f"lat {self.lat} is not between -90 and 90")
        if not -180 <= self.lon <= 180:
            raise ValueError(f"lon {self.lon} is not between -180 and 180")


class Locatable(Protocol):
    """Anything that says where someone is, like `domain.decisions.Location`."""

    @property
    def address(self) -> str | None: ...
    @property
    def zip(self) -> str | None: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...


def haversine_km(a: Coordinates, b: Coordinates) -> float:
    """The great-circle distance between two points on a spherical Earth, in kilometres."""
    phi_a, phi_b = math.radians(a.lat), math.radians(b.lat)
    d_phi = phi_b - phi_a
    d_lambda = math.radians(b.lon - a.lon)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def haversine_miles(a: Coordinates, b: Coordinates) -> float:
    return haversine_km(a, b) / KM_PER_MILE


def coordinates_for_zip(zip_code: str) -> Coordinates | None:
    """The centroid of a US zip code (`97201` or `97201-1234`), or None for an unknown one."""
    match = _ZIP.match(zip_code.strip())
    return _centroid(match.group(1)) if match else None


@lru_cache(maxsize=4096)
def _centroid(zip5: str) -> Coordinates | None:
    # The package's module functions are unannotated; its data has lat/long as strings.
    found = zipcodes.matching(zip5)  # type: ignore[no-untyped-call]
    for row in found:
        try:
            return Coordinates(lat=float(row["lat"]), lon=float(row["long"]))
        except (KeyError, TypeError, ValueError):
            continue
    return None


def zip_in_address(address: str) -> str | None:
    """The zip code of a US address: the last 5-digit group (a street number may come first)."""
    found = _ZIP_IN_ADDRESS.findall(address)
    return found[-1] if found else None


def locate(location: Locatable) -> Coordinates | None:
    """Coordinates for a location: its own lat/lon, else its zip code, else the zip code in its
    address. None when none of those can be placed on the map."""
    if location.lat is not None and location.lon is not None:
        return Coordinates(lat=location.lat, lon=location.lon)
    for zip_code in (location.zip, zip_in_address(location.address or "")):
        if zip_code:
            found = coordinates_for_zip(zip_code)
            if found is not None:
                return found
    return None
