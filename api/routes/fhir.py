"""An incident's record for the client's EHR: a FHIR R4 Bundle (SPEC 10.4), read by a supervisor
as they read the detail (live from the workflow, break-glass for another program), audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import Now, SessionDep, Supervisor, TemporalDep, audit_read, incident_access
from api.fhir import FHIR_MEDIA_TYPE, FhirSource, incident_bundle
from api.fhir.common import uuid_of
from api.incident_client import current_state
from api.incident_reads import incident_answer
from api.incident_views import IncidentView
from api.problems import not_found
from domain.models import Client, Consent, EmergencyContact, Staff
from domain.vocabulary import DecisionKind, Role

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_MEDIA_TYPE


# What the OpenAPI document says of the answer: a Bundle; its resources follow FHIR R4.
_BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"const": "collection"},
        "timestamp": {"type": "string", "format": "date-time"},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["fullUrl", "resource"],
                "properties": {
                    "fullUrl": {"type": "string", "pattern": "^urn:uuid:"},
                    "resource": {"type": "object", "required": ["resourceType"]},
                },
            },
        },
    },
}


@router.get(
    "/{incident_id}/fhir",
    response_class=FhirJSONResponse,
    responses={
        200: {
            "description": "The incident as a FHIR R4 Bundle of type collection",
            "content": {FHIR_MEDIA_TYPE: {"schema": _BUNDLE_SCHEMA}},
        }
    },
)
async def incident_fhir(
    incident_id: uuid.UUID,
    supervisor: Supervisor,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> FhirJSONResponse:
    """The incident as a FHIR R4 `Bundle` (type `collection`, `application/fhir+json`): the client
    (Patient), the staff who acted (Practitioner), the Encounter, a QuestionnaireResponse and
    Observations per instrument (LOINC where one exists), the RiskAssessment, a behavioral-health
    Flag while the risk is high or imminent, the safety plan (CarePlan), a Communication per
    delivery attempt (contacts as RelatedPerson), a Task per follow-up, a Consent per consent a
    disclosure rested on, ServiceRequests for dispatches and a Provenance per recording. Every
    reference resolves inside the Bundle (`urn:uuid` fullUrls).

    Exporting is an audited read. Another program's incident is not found, under a break-glass
    grant too: the grant is for reading the incident in an emergency (its detail and history,
    SPEC 10.2), not for taking the whole record (contacts, Part 2 notes) into another system."""
    access = await incident_access(session, supervisor, incident_id, now)
    if access.grant_id is not None:
        raise not_found("incident")
    state, live = await current_state(temporal, session, incident_id, access.program_id)
    view = await incident_answer(session, state, role=Role.SUPERVISOR, live=live)
    client = await session.get(Client, view.client_id)
    if client is None or client.program_id != access.program_id:
        raise not_found("incident")
    consents = await _consents_used(session, view)
    contacts = await _contacts(session, view, consents)
    staff = await _staff(session, view, consents)
    bundle = incident_bundle(
        FhirSource(
            view=view,
            safety_plan=state.safety_plan,
            client=client,
            contacts=contacts,
            consents=consents,
            staff=staff,
            exported_at=datetime.now(UTC),  # after the reads: nothing in it is newer
        )
    )
    await audit_read(
        session,
        supervisor,
        "incident.fhir_exported",
        incident_id=incident_id,
        program_id=access.program_id,
        detail={"resources": len(bundle["entry"]), **access.audit_detail()},
    )
    return FhirJSONResponse(bundle)


async def _consents_used(session: AsyncSession, view: IncidentView) -> list[Consent]:
    ids = {
        uuid.UUID(consent_id)
        for decision in view.decisions
        if decision["kind"] == DecisionKind.NOTIFY_CONTACTS
        for consent_id in decision["detail"].get("consent_ids", [])
    }
    if not ids:
        return []
    found = await session.exec(
        select(Consent).where(col(Consent.id).in_(ids), Consent.client_id == view.client_id)
    )
    return list(found.all())


async def _contacts(
    session: AsyncSession, view: IncidentView, consents: list[Consent]
) -> list[EmergencyContact]:
    """The contacts told (ladders, deliveries) or consented to."""
    ids = {uuid.UUID(str(c)) for ladder in view.ladders for c in ladder["recipient_ids"]}
    ids |= {
        named
        for note in view.notifications
        if note["recipient_type"] == "contact" and (named := uuid_of(note["recipient_id"]))
    }
    ids |= {c.contact_id for c in consents if c.contact_id is not None}
    if not ids:
        return []
    found = await session.exec(
        select(EmergencyContact).where(
            col(EmergencyContact.id).in_(ids), EmergencyContact.client_id == view.client_id
        )
    )
    return list(found.all())


async def _staff(session: AsyncSession, view: IncidentView, consents: list[Consent]) -> list[Staff]:
    """The staff who acted on the incident: its owner, who opened it, decided, dispatched,
    was paged or holds a task, and who recorded a consent used."""
    actors = [str(view.owner), view.opened_by]
    actors += [d["actor_id"] for d in view.decisions]
    actors += [d["requested_by"] for d in view.dispatches]
    actors += [n["recipient_id"] for n in view.notifications if n["recipient_type"] == "staff"]
    actors += [t["assignee_id"] for t in view.tasks if t["assignee_id"]]
    actors += [str(c.recorded_by) for c in consents]
    ids = {named for actor in actors if (named := uuid_of(actor)) is not None}
    found = await session.exec(select(Staff).where(col(Staff.id).in_(ids)))
    return list(found.all())
