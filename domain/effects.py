"""What the workflows ask activities to do: the typed inputs and results of every side effect."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from domain.audit import AuditEntry
from domain.incident import DecisionEntry, IncidentState, PageOrder
from domain.signed import SignedMessage


class IncidentProjection(BaseModel):
    """Write the incident row at this revision, its new decisions, and their audit events."""

    state: IncidentState
    decisions: list[DecisionEntry] = Field(default_factory=list)
    audit: list[AuditEntry] = Field(default_factory=list)


# The targets a page falls back to after its own (a `PageTarget`), then the program's supervisors:
# its admins, and last the console, which is no person's channel and always takes the page.
ADMINS_TARGET = "admins"
CONSOLE_TARGET = "console"
# `PageResult.reached_target` when no target took the page (paging itself failed).
NO_TARGET = "none"


class PageRequest(SignedMessage):
    """`incident_id`: the incident the page is about; for an on-call handoff (`about`), the
    rotation's id, which keys its deliveries."""

    incident_id: UUID
    program_id: UUID
    order: PageOrder
    about: Literal["incident", "handoff"] = "incident"


class Unreachable(BaseModel):
    """Who or what a page could not reach, and why. PHI-free: ids, a target, a channel and a
    provider's code, never a phone number, an address or a name."""

    recipient_id: str | None = None
    target: str
    channel: str | None = None
    reason: str


class PageResult(BaseModel):
    """How a page ended. `recipients`: the staff whose provider accepted it; `channel`: the
    channels that carried it, comma-joined ("none" when none did); `reached_target`: the target
    that took it (a `PageTarget`, "admins" or "console"; "none" when paging failed, and in results
    recorded before pages fell back)."""

    recipients: list[str]
    channel: str
    delivered: bool
    unreachable: list[Unreachable] = Field(default_factory=list)
    reached_target: str = NO_TARGET
