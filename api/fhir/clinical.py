"""The incident as clinical resources: the Encounter, each instrument's QuestionnaireResponse and
Observations, the RiskAssessment with its basis, the behavioral-health Flag, and a ServiceRequest
per dispatch."""

from __future__ import annotations

from typing import Any

from api.fhir.common import (
    CRISISDESK,
    LOINC,
    V3_ACT_CODE,
    V3_PARTICIPATION,
    FhirSource,
    Made,
    People,
    Resource,
    concept,
    derived_id,
    identifier,
    instant,
    own_concept,
    reference,
    system,
)
from domain.vocabulary import DecisionKind, RiskLevel, Stage

# LOINC 93374-7 "Suicide risk level" closes the C-SSRS screener panel (HL7 US Behavioral Health
# Profiles IG, QuestionnaireResponse C-SSRS-example-1). CIWA-Ar, COWS and the overdose signs get
# CrisisDesk codes: we found no LOINC code for them that we can cite.
_RISK_LOINC = {"cssrs_screener": ("93374-7", "Suicide risk level")}
_FLAGGED = (RiskLevel.HIGH, RiskLevel.IMMINENT)
_FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_ENDED = {Stage.CLOSED: "finished", Stage.CANCELLED: "cancelled"}
_DISPATCH_STATUS = {"transported": "completed", "cancelled": "revoked"}


def encounter(source: FhirSource, found: People) -> Made:
    """The incident: a virtual encounter whose reason is the crisis type."""
    view = source.view
    period = {"start": instant(view.opened_at)}
    if view.ended_at is not None:
        period["end"] = instant(view.ended_at)
    participants = []
    owner = found.practitioner(view.owner)
    if owner is not None:
        participants.append(
            {
                "type": [concept(V3_PARTICIPATION, "PPRF", "primary performer")],
                "individual": reference(owner),
            }
        )
    resource: Resource = {
        "resourceType": "Encounter",
        "id": str(view.id),
        "identifier": [identifier("incident", view.id)],
        "status": _ENDED.get(view.stage, "in-progress"),
        "class": {"system": V3_ACT_CODE, "code": "VR", "display": "virtual"},
        "type": [own_concept("incident-origin", view.origin, f"crisis incident ({view.origin})")],
        "subject": reference(found.patient),
        "period": period,
        "reasonCode": [own_concept("crisis-type", view.crisis_type)],
    }
    if participants:
        resource["participant"] = participants
    return Made(resource, by=view.opened_by, at=view.opened_at, activity="opened")


def assessments(source: FhirSource, found: People, visit: Resource) -> list[Made]:
    """Per instrument assessment, the scored form (QuestionnaireResponse) and what it found
    (Observations: the risk level, and the total where the instrument has one)."""
    made: list[Made] = []
    for index, assessment in enumerate(source.view.assessments):
        recorded = _assessment_decision(source, assessment)
        by = recorded["actor_id"] if recorded else None
        base = recorded["decision_id"] if recorded else derived_id(source.view.id, str(index))
        made.extend(_assessment(source, found, visit, assessment, base, by))
    return made


def _assessment(
    source: FhirSource,
    found: People,
    visit: Resource,
    assessment: dict[str, Any],
    base: str,
    by: str | None,
) -> list[Made]:
    instrument, at = assessment["instrument"], assessment["at"]
    author = found.practitioner(by)
    items = [
        _item("risk_level", "Risk level", {"valueCoding": _risk_coding(assessment["risk_level"])}),
        _item("overridden", "Clinician's risk differs", {"valueBoolean": assessment["overridden"]}),
    ]
    if assessment["computed_risk"] is not None:
        computed = {"valueCoding": _risk_coding(assessment["computed_risk"])}
        items.insert(0, _item("computed_risk", "Instrument's risk", computed))
    if assessment["total"] is not None:
        items.insert(0, _item("total", "Total score", {"valueInteger": assessment["total"]}))
    if assessment["band"] is not None:
        items.insert(1, _item("band", "Band", {"valueString": assessment["band"]}))
    form: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": derived_id(base, "questionnaire-response"),
        "questionnaire": f"{CRISISDESK}/Questionnaire/{instrument}",
        "status": "completed",
        "subject": reference(found.patient),
        "encounter": reference(visit),
        "authored": instant(at),
        "item": items,
    }
    if author is not None:
        form["author"] = reference(author)
    common = {
        "status": "final",
        "category": [concept(_OBSERVATION_CATEGORY, "survey", "Survey")],
        "subject": reference(found.patient),
        "encounter": reference(visit),
        "effectiveDateTime": instant(at),
        "derivedFrom": [reference(form)],
        **({"performer": [reference(author)]} if author is not None else {}),
    }
    risk_code = [{"system": system(instrument), "code": "risk"}]
    if instrument in _RISK_LOINC:
        code, display = _RISK_LOINC[instrument]
        risk_code.insert(0, {"system": LOINC, "code": code, "display": display})
    risk: Resource = {
        "resourceType": "Observation",
        "id": derived_id(base, "risk"),
        **common,
        "code": {"coding": risk_code, "text": f"{instrument} risk level"},
        "valueCodeableConcept": own_concept("risk-level", assessment["risk_level"]),
    }
    made = [Made(form, by, at, "assessment"), Made(risk, by, at, "assessment")]
    if assessment["total"] is not None:
        total: Resource = {
            "resourceType": "Observation",
            "id": derived_id(base, "total"),
            **common,
            "code": own_concept(instrument, "total", f"{instrument} total score"),
            "valueInteger": assessment["total"],
        }
        made.append(Made(total, by, at, "assessment"))
    return made


def risk_assessment(
    source: FhirSource, found: People, visit: Resource, basis: list[Made]
) -> Made | None:
    """The incident's risk level now, resting on the assessments that set it."""
    view = source.view
    if view.risk_level is None or not basis:
        return None
    latest = basis[-1]
    resource: Resource = {
        "resourceType": "RiskAssessment",
        "id": derived_id(view.id, "risk-assessment"),
        "status": "final",
        "subject": reference(found.patient),
        "encounter": reference(visit),
        "occurrenceDateTime": instant(latest.at or view.updated_at),
        "basis": [reference(made.resource) for made in basis],
        "prediction": [
            {
                "outcome": {"text": f"harm in a {view.crisis_type.replace('_', ' ')} crisis"},
                "qualitativeRisk": own_concept("risk-level", view.risk_level),
            }
        ],
    }
    performer = found.practitioner(latest.by)
    if performer is not None:
        resource["performer"] = reference(performer)
    return Made(resource, latest.by, latest.at, "assessment")


def flag(source: FhirSource, found: People, visit: Resource, risk: Made | None) -> Made | None:
    """A behavioral-health Flag while the risk is high or imminent; inactive once it ended."""
    view = source.view
    if risk is None or view.risk_level not in _FLAGGED:
        return None
    period = {"start": instant(risk.at or view.updated_at)}
    if view.ended_at is not None:
        period["end"] = instant(view.ended_at)
    resource: Resource = {
        "resourceType": "Flag",
        "id": derived_id(view.id, "flag"),
        "status": "inactive" if view.stage.is_final else "active",
        "category": [concept(_FLAG_CATEGORY, "behavioral", "Behavioral")],
        "code": own_concept("risk-level", view.risk_level, f"crisis risk {view.risk_level}"),
        "subject": reference(found.patient),
        "encounter": reference(visit),
        "period": period,
        "author": reference(found.actor(risk.by)),
    }
    return Made(resource, risk.by, risk.at, "assessment")


def dispatches(source: FhirSource, found: People, visit: Resource) -> list[Made]:
    """Each dispatch (911, mobile crisis, ...) as the ServiceRequest it is."""
    made = []
    for dispatch in source.view.dispatches:
        status = _DISPATCH_STATUS.get(dispatch["status"], "active")
        resource: Resource = {
            "resourceType": "ServiceRequest",
            "id": str(dispatch["dispatch_id"]),
            "status": status,
            "intent": "order",
            "code": own_concept("dispatch-service", dispatch["service"]),
            "subject": reference(found.patient),
            "encounter": reference(visit),
            "authoredOn": dispatch["requested_at"],
            "requester": reference(found.actor(dispatch["requested_by"])),
            "note": [{"text": f"dispatch status: {dispatch['status']}"}],
        }
        made.append(Made(resource, dispatch["requested_by"], dispatch["requested_at"], "dispatch"))
    return made


def _assessment_decision(source: FhirSource, assessment: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            d
            for d in source.view.decisions
            if d["kind"] == DecisionKind.ASSESSMENT
            and d["at"] == assessment["at"]
            and d["detail"].get("instrument") == assessment["instrument"]
        ),
        None,
    )


def _item(link_id: str, text: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "text": text, "answer": [answer]}


def _risk_coding(level: str) -> dict[str, str]:
    return {"system": system("risk-level"), "code": level}
