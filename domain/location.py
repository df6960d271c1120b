"""Where a client is: an address, a zip code, or coordinates (incidents, dispatches, SOS)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from domain.models.json_types import coordinates_or
from domain.models.text import NulFreeText


class Location(NulFreeText):
    """Where the client is now: an address, a zip code, or coordinates."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=coordinates_or("address", "zip")
    )

    address: str | None = Field(default=None, min_length=3, max_length=300)
    zip: str | None = Field(default=None, pattern=r"^[0-9]{5}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something_to_find(self) -> Location:
        if self.lat is not None and self.lon is None:
            raise ValueError("lon: required with lat")
        if self.lon is not None and self.lat is None:
            raise ValueError("lat: required with lon")
        if self.address is None and self.zip is None and self.lat is None:
            raise ValueError("give an address, a zip code, or lat and lon")
        return self
