"""The local resource directory: where help can be sent, near the client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, field_validator, model_validator
from pydantic.config import JsonDict
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from domain.hours import HOURS_SCHEMA, HoursError, normalized_hours
from domain.models.columns import enum_text, json_column, timestamp
from domain.models.text import NulFreeText, ZipCode
from domain.vocabulary import ResourceKind


class ResourceBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    kind: ResourceKind = Field(sa_type=enum_text())
    phone: str = Field(min_length=3, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    zip: ZipCode | None = Field(default=None, max_length=5)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    region: str | None = Field(default=None, max_length=100)
    open_24_7: bool = True


class Resource(ResourceBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    kind: ResourceKind = Field(sa_type=enum_text(), index=True)
    services: list[str] = json_column(list)
    hours: dict[str, str] = json_column(dict)
    created_at: datetime = timestamp()


# `_one_kind_of_hours` for the OpenAPI document: open 24/7, or opening hours, not both.
_ONE_KIND_OF_HOURS: JsonDict = {
    "anyOf": [
        {"properties": {"open_24_7": {"const": False}}},
        {"properties": {"hours": {"maxProperties": 0}}},
    ]
}


class ResourceCreate(ResourceBase, NulFreeText):
    model_config = SQLModelConfig(json_schema_extra=_ONE_KIND_OF_HOURS)

    """A resource to add; `hours` (see `domain.hours`) are on the program's local clock."""

    services: list[str] = Field(default_factory=list, max_length=20)
    hours: dict[str, str] = Field(
        default_factory=dict, max_length=7, schema_extra={"json_schema_extra": HOURS_SCHEMA}
    )

    @model_validator(mode="before")
    @classmethod
    def _hours_mean_not_24_7(cls, data: Any) -> Any:
        # open_24_7 defaults to true; a resource given opening hours is not, unless it says so.
        if isinstance(data, dict) and data.get("hours") and "open_24_7" not in data:
            return {**data, "open_24_7": False}
        return data

    @field_validator("hours")
    @classmethod
    def _weekly_hours(cls, hours: dict[str, str]) -> dict[str, str]:
        try:
            return normalized_hours(hours)
        except HoursError as error:
            field = f"hours.{error.day}" if error.day else "hours"
            raise ValueError(f"{field}: {error.problem}") from None

    @model_validator(mode="after")
    def _one_kind_of_hours(self) -> ResourceCreate:
        if self.open_24_7 and self.hours:
            raise ValueError("open_24_7: a resource with opening hours is not open 24/7")
        return self


class ResourcePublic(ResourceBase):
    id: uuid.UUID
    services: list[str]
    hours: dict[str, str]
    created_at: datetime


class ResourceList(BaseModel):
    data: list[ResourcePublic]
    count: int


class SearchOrigin(BaseModel):
    """Where a nearby search measured from: the zip code's centroid or the given point."""

    lat: float
    lon: float
    zip: str | None = None


class NearbyResource(ResourcePublic):
    distance_km: float
    open_now: bool


class NearbyResourceList(BaseModel):
    origin: SearchOrigin
    data: list[NearbyResource]
    count: int
