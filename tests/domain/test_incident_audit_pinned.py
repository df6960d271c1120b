"""The audit entries an incident writes (SPEC section 6): every decision and disclosure is an
audit event with its actor and time, keyed so a retried write is recorded once, and never with
the clinician's notes.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.decisions import DecisionRequest
from domain.decisions.assessment import Assessment
from domain.incident import IncidentState
from domain.incident import audit as incident_audit
from domain.incident.machine import apply_decision, open_incident
from domain.notification import Acknowledgement
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Instrument
from tests.helpers.domain_builders import CLINICIAN, LATER, NOW, OWNER, PROGRAM, opening

INCIDENT = UUID("00000000-0000-4000-8000-0000000000c1")
PROTOCOL = protocol_for(CrisisType.SELF_HARM)
OPENING = opening(CrisisType.SELF_HARM, incident_id=INCIDENT)


def opened() -> IncidentState:
    return open_incident(OPENING, NOW)


def test_opening_is_audited_with_its_crisis_type_and_protocol_version() -> None:
    entry = incident_audit.opened(OPENING)
    assert (entry.event_key, entry.action, entry.program_id, entry.incident_id) == (
        f"{INCIDENT}:opened",
        "incident.opened",
        PROGRAM,
        INCIDENT,
    )
    assert (entry.actor_id, entry.actor_role, entry.at) == (str(OWNER), "clinician", NOW)
    assert entry.detail == {"crisis_type": CrisisType.SELF_HARM, "protocol": PROTOCOL.version}


def test_a_decision_is_audited_with_its_facts_but_not_the_notes() -> None:
    asked = DecisionRequest(
        decision_id=uuid4(),
        actor=CLINICIAN,
        decision=Assessment(
            instrument=Instrument.CSSRS_SCREENER,
            answers={"wish_dead": True, "suicidal_thoughts": False, "behavior": False},
            notes="lives with her grandmother",
        ),
    )
    state, _ = apply_decision(opened(), PROTOCOL, asked, LATER)
    entry = incident_audit.decided(state, state.decisions[-1])
    assert (entry.event_key, entry.action, entry.program_id, entry.incident_id) == (
        f"decision:{asked.decision_id}",
        "decision.assessment",
        PROGRAM,
        INCIDENT,
    )
    assert (entry.actor_id, entry.actor_role, entry.at) == (str(OWNER), "clinician", LATER)
    assert entry.detail == {
        "decision_id": str(asked.decision_id),
        "instrument": "cssrs_screener",
        "computed_risk": "low",
        "risk_level": "low",
        "total": None,
        "overridden": False,
    }
    assert "grandmother" not in str(entry.model_dump())


def test_an_acknowledgement_is_audited_once_per_ladder_recipient_and_channel() -> None:
    ladder_id, recipient = uuid4(), uuid4()
    ack = Acknowledgement(ladder_id=ladder_id, recipient_id=recipient, via="sms_reply")
    entry = incident_audit.acknowledged(opened(), ladder_id, ack, LATER)
    assert (entry.event_key, entry.action, entry.program_id, entry.incident_id) == (
        f"ack:{ladder_id}:{recipient}:sms_reply",
        "contact.acknowledged",
        PROGRAM,
        INCIDENT,
    )
    assert (entry.actor_id, entry.actor_role, entry.at) == (str(recipient), "contact", LATER)
    assert entry.detail == {"ladder_id": str(ladder_id), "via": "sms_reply"}


def test_an_incident_event_is_the_systems_unless_an_actor_is_named() -> None:
    state = opened()
    entry = incident_audit.incident_event(state, "sos.pressed", {"presses": 2}, at=LATER)
    assert (entry.event_key, entry.action, entry.program_id, entry.incident_id) == (
        f"{INCIDENT}:sos.pressed:{state.revision}",
        "sos.pressed",
        PROGRAM,
        INCIDENT,
    )
    assert (entry.actor_id, entry.actor_role, entry.at, entry.detail) == (
        "system",
        "system",
        LATER,
        {"presses": 2},
    )
    named = incident_audit.incident_event(
        state, "incident.closed", {}, at=LATER, actor=("sup-1", "supervisor"), key="closed"
    )
    assert (named.event_key, named.actor_id, named.actor_role) == (
        f"{INCIDENT}:closed",
        "sup-1",
        "supervisor",
    )
