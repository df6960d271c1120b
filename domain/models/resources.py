"""The local resource directory: where help can be sent, near the client."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from domain.models.columns import enum_text, json_column, timestamp
from domain.models.text import ZipCode
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


class ResourceCreate(ResourceBase):
    services: list[str] = Field(default_factory=list)
    hours: dict[str, str] = Field(default_factory=dict)


class ResourcePublic(ResourceBase):
    id: uuid.UUID
    services: list[str]
    hours: dict[str, str]
    created_at: datetime


class ResourceList(BaseModel):
    data: list[ResourcePublic]
    count: int
