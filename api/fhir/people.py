"""The people of an incident's Bundle, each with the minimum necessary: the client (Patient: a
name and CrisisDesk's id, no phone, address or birth date), the staff who acted (Practitioner),
the emergency contacts told or consented to (RelatedPerson), and CrisisDesk itself (Device)."""

from __future__ import annotations

from api.fhir.common import FhirSource, People, Resource, derived_id, identifier, reference


def people(source: FhirSource) -> People:
    client = source.client
    patient: Resource = {
        "resourceType": "Patient",
        "id": str(client.id),
        "identifier": [identifier("client", client.id)],
        "name": [{"family": client.last_name, "given": [client.first_name]}],
    }
    device: Resource = {
        "resourceType": "Device",
        "id": derived_id(source.view.id, "device:crisisdesk"),
        "deviceName": [{"name": "CrisisDesk", "type": "user-friendly-name"}],
    }
    found = People(patient=patient, device=device)
    for member in source.staff:
        found.practitioners[member.id] = {
            "resourceType": "Practitioner",
            "id": str(member.id),
            "identifier": [identifier("staff", member.id)],
            "active": member.active,
            "name": [{"text": member.name}],
        }
    for contact in source.contacts:
        found.related[contact.id] = {
            "resourceType": "RelatedPerson",
            "id": str(contact.id),
            "identifier": [identifier("emergency-contact", contact.id)],
            "patient": reference(patient),
            "relationship": [{"text": contact.relationship}],
            "name": [{"text": contact.name}],
        }
    return found


def people_resources(found: People) -> list[Resource]:
    return [
        found.patient,
        *found.practitioners.values(),
        *found.related.values(),
        found.device,
    ]
