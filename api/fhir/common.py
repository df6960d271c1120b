"""What the FHIR export is made from, and the pieces every resource family shares: CrisisDesk's own
code systems, `urn:uuid` references inside the Bundle, and who recorded each resource (for its
Provenance)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.incident_views import IncidentView
from domain.models import Client, Consent, EmergencyContact, Staff

FHIR_MEDIA_TYPE = "application/fhir+json"
# CrisisDesk's own codes, where no standard code exists (or none we can cite).
CRISISDESK = "https://crisisdesk.dev/fhir"
LOINC = "http://loinc.org"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

Resource = dict[str, Any]


def system(name: str) -> str:
    """A CrisisDesk code system (`crisis-type`, `risk-level`, `instrument`, ...)."""
    return f"{CRISISDESK}/CodeSystem/{name}"


def identifier(name: str, value: uuid.UUID | str) -> dict[str, str]:
    """CrisisDesk's id of a record (client, staff, incident, ...), so a receiver can match it."""
    return {"system": f"{CRISISDESK}/{name}", "value": str(value)}


def concept(system_url: str, code: str, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one coding; `text` is the code's words for a reader."""
    return {
        "coding": [{"system": system_url, "code": code}],
        "text": text or code.replace("_", " "),
    }


def own_concept(name: str, code: str, text: str | None = None) -> dict[str, Any]:
    return concept(system(name), code, text)


def urn(resource_id: uuid.UUID | str) -> str:
    return f"urn:uuid:{resource_id}"


def reference(resource: Resource) -> dict[str, str]:
    """A reference to a resource of the Bundle (its entry's fullUrl)."""
    return {"reference": urn(resource["id"]), "type": resource["resourceType"]}


def derived_id(base: uuid.UUID | str, what: str) -> str:
    """A stable id for a resource with no row of its own: the same export gives the same ids."""
    return str(uuid.uuid5(uuid.UUID(str(base)), what))


def uuid_of(value: str | None) -> uuid.UUID | None:
    """The record an id string names (a decision's `actor_id`, a delivery's `recipient_id`), or
    None when it names none (`system`, `console`)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def instant(value: datetime | str) -> str:
    """A FHIR instant/dateTime (an aware ISO 8601 time)."""
    return value if isinstance(value, str) else value.isoformat()


@dataclass(frozen=True)
class FhirSource:
    """Everything an incident's Bundle is made from: the incident as a supervisor reads it (with
    its deliveries and follow-up tasks), its safety plan, and the rows it refers to."""

    view: IncidentView
    safety_plan: dict[str, list[str]] | None
    client: Client
    contacts: Sequence[EmergencyContact]
    consents: Sequence[Consent]
    staff: Sequence[Staff]
    exported_at: datetime


@dataclass
class Made:
    """A resource, and what its Provenance says: who recorded it (a staff id or `system`),
    when, and by which activity (a decision kind, `opened`, `delivered`, ...)."""

    resource: Resource
    by: str | None = None
    at: datetime | str | None = None
    activity: str = ""


@dataclass
class People:
    """The Bundle's people, by their CrisisDesk ids: the client, staff, contacts, and CrisisDesk
    itself (the Device that records what no person did)."""

    patient: Resource
    device: Resource
    practitioners: dict[uuid.UUID, Resource] = field(default_factory=dict)
    related: dict[uuid.UUID, Resource] = field(default_factory=dict)

    def actor(self, actor: str | None) -> Resource:
        """Who an actor string names: a practitioner of the Bundle, else CrisisDesk."""
        member = uuid_of(actor)
        return self.practitioners.get(member, self.device) if member else self.device

    def practitioner(self, actor: str | uuid.UUID | None) -> Resource | None:
        member = uuid_of(str(actor)) if actor is not None else None
        return self.practitioners.get(member) if member else None
