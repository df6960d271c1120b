"""Clients of a program, their emergency contacts (ordered channels) and disclosure consents."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, field_validator, model_validator
from pydantic.config import JsonDict
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from domain.models.columns import enum_text, json_column, timestamp
from domain.models.text import Email, NulFreeText, Phone, ZipCode
from domain.vocabulary import Channel, ConsentKind, ContactKind


class ClientBase(SQLModel):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    phone: Phone | None = Field(default=None, max_length=16)
    email: Email | None = Field(default=None, max_length=254)
    zip: ZipCode | None = Field(default=None, max_length=5)


class Client(ClientBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    created_at: datetime = timestamp()


class ClientCreate(ClientBase, NulFreeText):
    pass


class ClientPublic(ClientBase):
    id: uuid.UUID
    program_id: uuid.UUID
    created_at: datetime


class ClientList(BaseModel):
    data: list[ClientPublic]
    count: int


CONTACT_CHANNELS = (Channel.SMS, Channel.VOICE, Channel.EMAIL)


class EmergencyContactBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=100)
    kind: ContactKind = Field(sa_type=enum_text())
    phone: Phone | None = Field(default=None, max_length=16)
    email: Email | None = Field(default=None, max_length=254)
    facility: str | None = Field(default=None, max_length=200)
    priority: int = Field(default=1, ge=1, le=100)


class EmergencyContact(EmergencyContactBase, table=True):
    __tablename__ = "emergency_contact"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id", index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    channels: list[str] = json_column(list)
    created_at: datetime = timestamp()


# `_channels_have_addresses` for the OpenAPI document: no sms or voice without a phone number,
# no email without an address.
_CHANNEL_ADDRESSES: JsonDict = {
    "allOf": [
        {
            "anyOf": [
                {"properties": {"channels": {"items": {"const": "email"}}}},
                {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
            ]
        },
        {
            "anyOf": [
                {"properties": {"channels": {"items": {"enum": ["sms", "voice"]}}}},
                {"required": ["email"], "properties": {"email": {"type": "string"}}},
            ]
        },
    ]
}


class EmergencyContactCreate(EmergencyContactBase, NulFreeText):
    model_config = SQLModelConfig(json_schema_extra=_CHANNEL_ADDRESSES)

    channels: list[Channel] = Field(
        min_length=1,
        max_length=len(CONTACT_CHANNELS),
        schema_extra={
            "json_schema_extra": {
                "items": {"type": "string", "enum": [c.value for c in CONTACT_CHANNELS]},
                "uniqueItems": True,
            }
        },
    )

    @field_validator("channels")
    @classmethod
    def _distinct_contact_channels(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("channels must not repeat")
        unsupported = [c for c in channels if c not in CONTACT_CHANNELS]
        if unsupported:
            raise ValueError(f"a contact is reached by sms, voice or email, not {unsupported[0]}")
        return channels

    @model_validator(mode="after")
    def _channels_have_addresses(self) -> EmergencyContactCreate:
        if {Channel.SMS, Channel.VOICE} & set(self.channels) and not self.phone:
            raise ValueError("phone: the sms and voice channels need a phone number")
        if Channel.EMAIL in self.channels and not self.email:
            raise ValueError("email: the email channel needs an email address")
        return self


class EmergencyContactPublic(EmergencyContactBase):
    id: uuid.UUID
    client_id: uuid.UUID
    channels: list[Channel]
    created_at: datetime


class EmergencyContactList(BaseModel):
    data: list[EmergencyContactPublic]
    count: int


class ConsentBase(SQLModel):
    kind: ConsentKind = Field(sa_type=enum_text())
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="emergency_contact.id")
    expires_at: datetime | None = None


class Consent(ConsentBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id", index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    contact_id: uuid.UUID | None = Field(
        default=None, foreign_key="emergency_contact.id", index=True
    )
    expires_at: datetime | None = timestamp(nullable=True)
    revoked_at: datetime | None = timestamp(nullable=True)
    revoked_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    revocation_reason: str | None = Field(default=None, max_length=2000)
    recorded_by: uuid.UUID = Field(foreign_key="staff.id")
    created_at: datetime = timestamp()


class ConsentCreate(ConsentBase, NulFreeText):
    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a timezone, e.g. 2027-06-01T00:00:00Z")
        return value


class ConsentRevoke(SQLModel, NulFreeText):
    """Why the client withdrew (or the consent otherwise ends); kept with the consent."""

    reason: str = Field(min_length=3, max_length=2000)


class ConsentPublic(ConsentBase):
    id: uuid.UUID
    client_id: uuid.UUID
    revoked_at: datetime | None
    revoked_by: uuid.UUID | None = None
    revocation_reason: str | None = None
    recorded_by: uuid.UUID
    created_at: datetime


class ConsentList(BaseModel):
    data: list[ConsentPublic]
    count: int


class ClientDevice(SQLModel, table=True):
    """A client's app or session page, allowed to press the SOS button; its token is hashed."""

    __tablename__ = "client_device"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(foreign_key="client.id", index=True)
    program_id: uuid.UUID = Field(foreign_key="program.id", index=True)
    label: str = Field(max_length=100)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = timestamp()
    revoked_at: datetime | None = timestamp(nullable=True)


class ClientDeviceCreate(SQLModel, NulFreeText):
    label: str = Field(default="client app", min_length=1, max_length=100)


class ClientDevicePublic(SQLModel):
    id: uuid.UUID
    client_id: uuid.UUID
    label: str
    created_at: datetime
    revoked_at: datetime | None


class ClientDeviceWithToken(ClientDevicePublic):
    """Answered once, when the device is registered: only the token's hash is kept."""

    token: str
