"""The decision registry: every decision kind, each whole in its own module.

A kind's module holds its body (what the API parses), the roles that may record it, why it is
refused and what it changes. `DECISIONS` collects them; the API parses `Decision` (the union of
the bodies), the workflow has one Update per entry (workflows/decision_updates.py), and importing
this package fails if any kind of the vocabulary lacks a piece.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from uuid import UUID

from pydantic import BaseModel, Field

from domain.decisions import (
    assessment,
    cancel,
    close,
    contact_lost,
    contact_reached,
    contact_restored,
    deescalation,
    dispatch,
    dispatch_update,
    disposition,
    escalate,
    note,
    notify_contacts,
    reassign,
    reclassify,
)
from domain.decisions.assessment import Assessment
from domain.decisions.base import CLINICAL, Change, DecisionKindSpec, Verdict
from domain.decisions.cancel import Cancel
from domain.decisions.close import Close
from domain.decisions.contact_lost import ContactLost
from domain.decisions.contact_reached import ContactReached
from domain.decisions.contact_restored import ContactRestored
from domain.decisions.deescalation import Deescalation
from domain.decisions.dispatch import DispatchRequest
from domain.decisions.dispatch_update import DispatchUpdate
from domain.decisions.disposition import Disposition, SafetyPlan
from domain.decisions.escalate import Escalate
from domain.decisions.note import Note
from domain.decisions.notify_contacts import NotifyContacts
from domain.decisions.reassign import Reassign
from domain.decisions.reclassify import Reclassify
from domain.disclosure import ConsentFacts, ContactFacts
from domain.incident.state import Actor
from domain.location import Location
from domain.protocols.base import CrisisProtocol
from domain.signed import SignedMessage
from domain.vocabulary import Channel, DecisionKind, Role

_KIND_MODULES = (
    assessment,
    deescalation,
    notify_contacts,
    dispatch,
    dispatch_update,
    disposition,
    contact_lost,
    contact_restored,
    contact_reached,
    note,
    reassign,
    escalate,
    close,
    cancel,
    reclassify,
)
DECISIONS: dict[DecisionKind, DecisionKindSpec[Any]] = {m.SPEC.kind: m.SPEC for m in _KIND_MODULES}

Decision = Annotated[
    Assessment
    | Deescalation
    | NotifyContacts
    | DispatchRequest
    | DispatchUpdate
    | Disposition
    | ContactLost
    | ContactRestored
    | ContactReached
    | Note
    | Reassign
    | Escalate
    | Close
    | Cancel
    | Reclassify,
    Field(discriminator="kind"),
]

# Which roles may make each decision (SPEC.md section 1), from the registry.
DECISION_ROLES: dict[DecisionKind, frozenset[Role]] = {k: s.roles for k, s in DECISIONS.items()}


class ContactOnFile(BaseModel):
    """An emergency contact as the disclosure rules and the ladder need it."""

    facts: ContactFacts
    channels: tuple[Channel, ...]
    priority: int


class DisclosureContext(BaseModel):
    """The client's contacts and consents, read by the API for a `notify_contacts` decision;
    the workflow decides on them with the pure disclosure rules."""

    contacts: list[ContactOnFile]
    consents: list[ConsentFacts]
    # The program is a 42 CFR Part 2 program: every incident of it is Part 2-protected.
    part2_program: bool = False


class DecisionRequest(SignedMessage):
    """What the API sends to the incident workflow's update for one decision."""

    decision_id: UUID
    actor: Actor
    decision: Decision
    disclosure: DisclosureContext | None = None
    # Set when a dispatch provider's signed callback made this decision: applied once.
    callback_event_id: str | None = None
    # For `contact_lost`: the client's own channels (phone, email on file), read by the API.
    client_channels: tuple[Channel, ...] | None = None
    # A digest of the decision body: the same decision id with another body is refused.
    request_digest: str | None = None
    # For `reclassify`: the new crisis type's protocol as the API has it, frozen from now on.
    protocol: CrisisProtocol | None = None


def _check_registry() -> None:
    """Every kind of the vocabulary is registered once, under its body's own kind, and parsed."""
    missing = set(DecisionKind) - set(DECISIONS)
    if missing or len(DECISIONS) != len(_KIND_MODULES):
        raise RuntimeError(f"decision kinds without a registry entry: {sorted(missing)}")
    parsed = set(get_args(get_args(Decision)[0]))
    for kind, spec in DECISIONS.items():
        if spec.body.model_fields["kind"].default is not kind or spec.body not in parsed:
            raise RuntimeError(f"the {kind} entry's body is not the one the API parses")
        if not spec.roles:
            raise RuntimeError(f"nobody may record {kind}")


_check_registry()

__all__ = [
    "CLINICAL",
    "DECISIONS",
    "DECISION_ROLES",
    "Actor",
    "Assessment",
    "Cancel",
    "Change",
    "Close",
    "ContactLost",
    "ContactOnFile",
    "ContactReached",
    "ContactRestored",
    "Decision",
    "DecisionKindSpec",
    "DecisionRequest",
    "Deescalation",
    "DisclosureContext",
    "DispatchRequest",
    "DispatchUpdate",
    "Disposition",
    "Escalate",
    "Location",
    "Note",
    "NotifyContacts",
    "Reassign",
    "Reclassify",
    "SafetyPlan",
    "Verdict",
]
