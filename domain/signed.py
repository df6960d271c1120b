"""Messages that change an incident carry the API's signature (SPEC 10.2, Temporal is a trust
boundary). Every signal and update argument that changes state is a `SignedMessage`: the
interceptors of infra/decision_signing.py sign it on the way into Temporal and check it (and
clear it) before any handler sees it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SignedMessage(BaseModel):
    # HMAC over the message, its target workflow and its signal or update name.
    signature: str | None = Field(default=None, max_length=200)
