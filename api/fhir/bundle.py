"""An incident as one FHIR R4 Bundle of type `collection`: every resource an entry with a
`urn:uuid` fullUrl that every reference points to, and a Provenance per recording (who recorded
which resources, when, doing what). The Bundle is checked against the `fhir.resources` R4B models
before it is answered."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from api.fhir import care, clinical
from api.fhir.common import (
    FhirSource,
    Made,
    People,
    Resource,
    derived_id,
    identifier,
    instant,
    own_concept,
    reference,
    urn,
)
from api.fhir.people import people, people_resources


def incident_bundle(source: FhirSource) -> dict[str, Any]:
    """The incident's Bundle as FHIR JSON (checked against the R4B models)."""
    found = people(source)
    visit = clinical.encounter(source, found)
    assessed = clinical.assessments(source, found, visit.resource)
    risk = clinical.risk_assessment(source, found, visit.resource, assessed)
    plan = care.care_plan(source, found, visit.resource)
    made: list[Made] = [
        visit,
        *assessed,
        *_present(risk, clinical.flag(source, found, visit.resource, risk), plan),
        *clinical.dispatches(source, found, visit.resource),
        *care.communications(source, found, visit.resource),
        *care.tasks(source, found, visit.resource, plan),
        *care.consents(source, found),
    ]
    resources = [
        *people_resources(found),
        *(m.resource for m in made),
        *_provenance(source, found, made),
    ]
    bundle = {
        "resourceType": "Bundle",
        "id": derived_id(source.view.id, f"bundle:{source.view.revision}"),
        "identifier": identifier("incident-export", source.view.id),
        "type": "collection",
        "timestamp": instant(source.exported_at),
        "entry": [{"fullUrl": urn(r["id"]), "resource": r} for r in resources],
    }
    checked: dict[str, Any] = Bundle.model_validate(bundle).model_dump(mode="json")
    return checked


def _present(*made: Made | None) -> list[Made]:
    return [m for m in made if m is not None]


def _provenance(source: FhirSource, found: People, made: list[Made]) -> list[Resource]:
    """One Provenance per recording: the resources one actor recorded at one time by one
    activity (an assessment's form, observations and risk; a disposition's plan; ...)."""
    recordings: dict[tuple[str, str, str], list[Resource]] = defaultdict(list)
    for m in made:
        if m.at is None:
            continue
        recordings[(str(m.by), instant(m.at), m.activity)].append(m.resource)
    provenances = []
    for (by, at, activity), targets in recordings.items():
        agent = found.actor(by)
        provenances.append(
            {
                "resourceType": "Provenance",
                "id": derived_id(source.view.id, f"provenance:{by}:{at}:{activity}"),
                "target": [reference(t) for t in targets],
                "recorded": at,
                "activity": own_concept("activity", activity),
                "agent": [{"who": reference(agent)}],
            }
        )
    return provenances
