"""What the workflows ask activities to do: the typed inputs and results of every side effect."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from domain.audit import AuditEntry
from domain.incident import DecisionEntry, IncidentState, PageOrder


class IncidentProjection(BaseModel):
    """Write the incident row at this revision, its new decisions, and their audit events."""

    state: IncidentState
    decisions: list[DecisionEntry] = Field(default_factory=list)
    audit: list[AuditEntry] = Field(default_factory=list)


class PageRequest(BaseModel):
    incident_id: UUID
    program_id: UUID
    order: PageOrder


class PageResult(BaseModel):
    recipients: list[str]
    channel: str
    delivered: bool
