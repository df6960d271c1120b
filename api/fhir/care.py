"""What was done for the client: the safety plan (CarePlan, an activity per section), each
delivery attempt (Communication), each follow-up task (Task) and each consent a disclosure rested
on (Consent)."""

from __future__ import annotations

from typing import Any

from api.fhir.common import (
    V3_PARTICIPATION,
    FhirSource,
    Made,
    People,
    Resource,
    concept,
    derived_id,
    instant,
    own_concept,
    reference,
    uuid_of,
)
from domain.vocabulary import DecisionKind

# A delivery's status as a Communication's (event-status).
_DELIVERY = {
    "queued": "preparation",
    "sent": "in-progress",
    "delivered": "completed",
    "acknowledged": "completed",
    "failed": "not-done",
    "stopped": "stopped",
}
_CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
# The rule each kind of consent is given under.
_CONSENT_POLICY = {
    "part2": "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2",
    "contact_disclosure": "https://www.ecfr.gov/current/title-45/section-164.510",
}


def care_plan(source: FhirSource, found: People, visit: Resource) -> Made | None:
    """The disposition's Stanley-Brown safety plan: one activity per section, in its order."""
    plan = source.safety_plan
    if not plan:
        return None
    decided = _last(source, DecisionKind.DISPOSITION)
    by, at = (decided["actor_id"], decided["at"]) if decided else (None, None)
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": derived_id(source.view.id, "safety-plan"),
        "status": "completed" if source.view.stage.is_final else "active",
        "intent": "plan",
        "category": [own_concept("care-plan", "safety_plan", "Stanley-Brown safety plan")],
        "title": "Safety plan",
        "subject": reference(found.patient),
        "encounter": reference(visit),
        "activity": [
            {
                "detail": {
                    "code": own_concept("safety-plan-section", section),
                    "status": "in-progress",
                    "description": "; ".join(items),
                }
            }
            for section, items in plan.items()
        ],
    }
    if at is not None:
        resource["created"] = at
    author = found.practitioner(by)
    if author is not None:
        resource["author"] = reference(author)
    return Made(resource, by, at, "disposition")


def communications(source: FhirSource, found: People, visit: Resource) -> list[Made]:
    """Each delivery attempt to a contact, the client or a staff member; a contact's carries the
    basis its disclosure rested on (and the 42 CFR 2.51(c) record of a medical emergency)."""
    made = []
    for note in source.view.notifications:
        resource: Resource = {
            "resourceType": "Communication",
            "id": note["id"],
            "status": _DELIVERY.get(note["status"], "unknown"),
            "category": [own_concept("notification-purpose", note["purpose"])],
            "medium": [own_concept("channel", note["channel"])],
            "subject": reference(found.patient),
            "encounter": reference(visit),
            "sent": note["created_at"],
        }
        if note["status"] in ("delivered", "acknowledged"):
            resource["received"] = note["updated_at"]
        recipient = _recipient(found, note)
        if recipient is not None:
            resource["recipient"] = [reference(recipient)]
        if note["recipient_type"] == "contact":
            _disclosure(source, resource, note["recipient_id"])
        made.append(Made(resource, "system", note["created_at"], "delivery"))
    return made


def tasks(source: FhirSource, found: People, visit: Resource, plan: Made | None) -> list[Made]:
    """Each follow-up contact, due on the protocol's schedule (FHIR's own Task statuses),
    ordered by the disposition that started the follow-up."""
    decided = _last(source, DecisionKind.DISPOSITION)
    ordered_at = decided["at"] if decided else None
    made = []
    for task in source.view.tasks:
        resource: Resource = {
            "resourceType": "Task",
            "id": task["id"],
            "status": task["status"],
            "intent": "order",
            "code": own_concept("task", "followup", f"follow-up contact {task['sequence']}"),
            "for": reference(found.patient),
            "encounter": reference(visit),
            "restriction": {"period": {"end": task["due_at"]}},
        }
        if ordered_at is not None:
            resource["authoredOn"] = ordered_at
        if plan is not None:
            resource["basedOn"] = [reference(plan.resource)]
        owner = found.practitioner(task["assignee_id"])
        if owner is not None:
            resource["owner"] = reference(owner)
        if task["outcome"]:
            resource["output"] = [
                {"type": {"text": "outcome"}, "valueCode": task["outcome"]},
            ]
        made.append(Made(resource, "system", ordered_at, "followup"))
    return made


def consents(source: FhirSource, found: People) -> list[Made]:
    """Each consent a disclosure of this incident rested on, as it stands now."""
    used = {
        consent_id
        for decision in source.view.decisions
        if decision["kind"] == DecisionKind.NOTIFY_CONTACTS
        for consent_id in decision["detail"].get("consent_ids", [])
    }
    made = []
    for consent in source.consents:
        if str(consent.id) not in used:
            continue
        ended = consent.revoked_at is not None or (
            consent.expires_at is not None and consent.expires_at <= source.exported_at
        )
        provision: dict[str, Any] = {"type": "permit"}
        if consent.expires_at is not None:
            provision["period"] = {"end": instant(consent.expires_at)}
        contact = found.related.get(consent.contact_id) if consent.contact_id else None
        if contact is not None:
            role = concept(V3_PARTICIPATION, "IRCP", "information recipient")
            provision["actor"] = [{"role": role, "reference": reference(contact)}]
        resource: Resource = {
            "resourceType": "Consent",
            "id": str(consent.id),
            "status": "inactive" if ended else "active",
            "scope": concept(_CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
            "category": [own_concept("consent-kind", consent.kind)],
            "patient": reference(found.patient),
            "dateTime": instant(consent.created_at),
            "policy": [{"uri": _CONSENT_POLICY[consent.kind]}],
            "provision": provision,
        }
        made.append(Made(resource, str(consent.recorded_by), consent.created_at, "consent"))
    return made


def _recipient(found: People, note: dict[str, Any]) -> Resource | None:
    recipient = uuid_of(note["recipient_id"])
    if recipient is None:
        return None
    match note["recipient_type"]:
        case "contact":
            return found.related.get(recipient)
        case "client":
            return found.patient
        case "staff":
            return found.practitioners.get(recipient)
    return None


def _disclosure(source: FhirSource, resource: Resource, contact_id: str) -> None:
    ladder = next(
        (
            ladder
            for ladder in reversed(source.view.ladders)
            if contact_id in ladder["recipient_ids"] and ladder["basis"]
        ),
        None,
    )
    if ladder is not None:
        resource["reasonCode"] = [own_concept("disclosure-basis", ladder["basis"])]
    record = next((d for d in source.view.part2_disclosures if d["contact_id"] == contact_id), None)
    if record is not None:
        resource["note"] = [
            {
                "time": record["disclosed_at"],
                "text": "Disclosed under the medical-emergency exception (42 CFR 2.51): "
                f"{record['nature_of_emergency']}",
            }
        ]


def _last(source: FhirSource, kind: DecisionKind) -> dict[str, Any] | None:
    return next((d for d in reversed(source.view.decisions) if d["kind"] == kind), None)
