"""The protocol's timers pinned to SPEC sections 2 and 2b: the windows are typed here as the spec
states them (5 min to assess, 2 min to dispatch at imminent risk), and the lost-contact rule is
checked on both sides of its risk threshold (a welfare check only at high or imminent risk).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from domain.decisions import DecisionRequest
from domain.decisions.assessment import Assessment
from domain.decisions.contact_lost import ContactLost
from domain.decisions.dispatch import DispatchRequest
from domain.decisions.dispatch_update import DispatchUpdate
from domain.decisions.note import Note
from domain.incident import IncidentState
from domain.incident.alarms import next_alarm_in, sound_due_alarms
from domain.incident.machine import apply_decision, open_incident
from domain.incident.state import AlarmName, PageTarget
from domain.protocols import protocol_for
from domain.protocols.base import CrisisProtocol, EscalationPolicy
from domain.vocabulary import (
    Channel,
    CrisisType,
    DecisionKind,
    DispatchService,
    DispatchStatus,
    Instrument,
    RiskLevel,
)
from tests.helpers.domain_builders import (
    CLINICIAN,
    HOME,
    NOW,
    OWNER,
    decision_request,
    opening,
)

# The `other` protocol runs on the defaults the spec states.
ASSESSMENT_WINDOW = timedelta(minutes=5)  # SPEC 2: default assessment window
IMMINENT_DISPATCH_WINDOW = timedelta(minutes=2)  # SPEC 2: imminent risk, no dispatch
SIGNS_BY_RISK = {
    RiskLevel.MODERATE: [],
    RiskLevel.HIGH: ["vomiting"],
    RiskLevel.IMMINENT: ["gurgling"],
}


def opened(crisis_type: CrisisType = CrisisType.OTHER, origin: str = "clinician") -> IncidentState:
    return open_incident(opening(crisis_type, origin=origin), NOW)


def tracked(crisis_type: CrisisType = CrisisType.OTHER) -> IncidentState:
    """An incident as the current workflow opens it: it tracks its dispatches' confirmations."""
    return opened(crisis_type).model_copy(update={"dispatch_tracking": True})


def decide(state: IncidentState, decision: object, at: datetime, **extra: object) -> IncidentState:
    asked = decision_request(decision, **extra)
    return apply_decision(state, protocol_for(state.crisis_type), asked, at)[0]


def assessed(risk: RiskLevel, at: datetime = NOW) -> IncidentState:
    return decide(
        opened(), Assessment(instrument=Instrument.OVERDOSE_SIGNS, signs=SIGNS_BY_RISK[risk]), at
    )


def due(state: IncidentState, name: AlarmName) -> datetime | None:
    alarm = state.alarm(name)
    return alarm.due_at if alarm else None


def test_an_unassessed_incident_pages_five_minutes_after_opening() -> None:
    state = opened()
    assert due(state, AlarmName.ASSESSMENT_OVERDUE) == NOW + ASSESSMENT_WINDOW
    assert next_alarm_in(state, NOW + timedelta(minutes=1)) == timedelta(minutes=4)
    assert next_alarm_in(state, NOW + timedelta(minutes=9)) == timedelta(0)
    quiet, effects = sound_due_alarms(
        state, protocol_for(state.crisis_type), NOW + timedelta(minutes=4, seconds=59)
    )
    assert effects.pages == [] and quiet.alarm(AlarmName.ASSESSMENT_OVERDUE).pages_sent == 0  # type: ignore[union-attr]
    sounded, effects = sound_due_alarms(
        state, protocol_for(state.crisis_type), NOW + ASSESSMENT_WINDOW
    )
    # Sounding works on a copy: the state it was given is left as it was.
    assert state.alarm(AlarmName.ASSESSMENT_OVERDUE).pages_sent == 0  # type: ignore[union-attr]
    assert sounded.alarm(AlarmName.ASSESSMENT_OVERDUE).pages_sent == 1  # type: ignore[union-attr]
    assert [(p.target, p.reason) for p in effects.pages] == [
        (PageTarget.ON_CALL_SUPERVISOR, "no assessment within the protocol's window")
    ]


def test_an_assessment_disarms_the_assessment_alarm() -> None:
    state = assessed(RiskLevel.MODERATE, NOW + timedelta(minutes=1))
    assert state.alarm(AlarmName.ASSESSMENT_OVERDUE) is None
    assert next_alarm_in(state, NOW) is None


@pytest.mark.parametrize(("risk", "armed"), [(RiskLevel.HIGH, False), (RiskLevel.IMMINENT, True)])
def test_imminent_risk_without_dispatch_pages_after_two_minutes(
    risk: RiskLevel, armed: bool
) -> None:
    state = assessed(risk)
    assert due(state, AlarmName.DISPATCH_OVERDUE) == (
        NOW + IMMINENT_DISPATCH_WINDOW if armed else None
    )


def test_an_unanswered_alarm_keeps_paging_and_widens_to_every_supervisor() -> None:
    policy = EscalationPolicy(
        backoff=(timedelta(minutes=3),), then_every=timedelta(minutes=7), widen_after_pages=1
    )
    protocol = protocol_for(CrisisType.OTHER).model_copy(update={"escalation": policy})
    state = opened()
    first_at = NOW + ASSESSMENT_WINDOW
    state, first = sound_due_alarms(state, protocol, first_at)
    assert [(p.page_id, p.target) for p in first.pages] == [
        ("assessment_overdue-1", PageTarget.ON_CALL_SUPERVISOR)
    ]
    assert due(state, AlarmName.ASSESSMENT_OVERDUE) == first_at + timedelta(minutes=3)
    second_at = first_at + timedelta(minutes=3)
    state, second = sound_due_alarms(state, protocol, second_at)
    assert [(p.page_id, p.target) for p in second.pages] == [
        ("assessment_overdue-2", PageTarget.ALL_SUPERVISORS)
    ]
    assert due(state, AlarmName.ASSESSMENT_OVERDUE) == second_at + timedelta(minutes=7)


def test_an_sos_pages_its_owner_at_once_until_someone_acts() -> None:
    state = opened(CrisisType.OTHER, origin="sos")
    assert due(state, AlarmName.SOS_UNANSWERED) == NOW
    _, effects = sound_due_alarms(state, protocol_for(CrisisType.OTHER), NOW)
    sos = [p for p in effects.pages if p.page_id.startswith("sos")]
    assert [(p.target, p.staff_id) for p in sos] == [(PageTarget.STAFF, OWNER)]
    acted = decide(state, Note(text="calling the client"), NOW + timedelta(seconds=30))
    assert acted.alarm(AlarmName.SOS_UNANSWERED) is None


def test_a_clinician_opened_incident_has_no_sos_alarm() -> None:
    assert opened(CrisisType.OTHER).alarm(AlarmName.SOS_UNANSWERED) is None


@pytest.mark.parametrize(
    ("risk", "welfare_check"),
    [(RiskLevel.MODERATE, False), (RiskLevel.HIGH, True), (RiskLevel.IMMINENT, True)],
)
def test_lost_contact_not_restored_requires_a_welfare_check_only_at_high_risk(
    risk: RiskLevel, welfare_check: bool
) -> None:
    protocol: CrisisProtocol = protocol_for(CrisisType.OTHER)
    lost = decide(assessed(risk), ContactLost(), NOW, client_channels=(Channel.SMS,))
    window_ends = due(lost, AlarmName.CONTACT_LOST)
    assert window_ends is not None and window_ends > NOW
    before, _ = sound_due_alarms(lost, protocol, window_ends - timedelta(seconds=1))
    assert before.welfare_check_required is False
    after, effects = sound_due_alarms(lost, protocol, window_ends)
    assert after.welfare_check_required is welfare_check
    if not welfare_check:
        assert after.dispatch_required_since is None
    else:
        assert after.dispatch_required_since is not None
    assert "contact with the client is lost and they have not been reached" in [
        p.reason for p in effects.pages
    ]


def test_the_allowed_decisions_follow_the_stage() -> None:
    assert DecisionKind.CANCEL in opened().allowed_decisions
    assert DecisionKind.CANCEL not in assessed(RiskLevel.MODERATE).allowed_decisions


CONFIRM_WINDOW = timedelta(minutes=9)
TUNED = protocol_for(CrisisType.OTHER).model_copy(
    update={"dispatch_confirm_window": CONFIRM_WINDOW}
)


def dispatched(service: DispatchService, tracking: bool = True) -> IncidentState:
    state = tracked() if tracking else opened()
    resource = (
        None if service in (DispatchService.EMERGENCY_911, DispatchService.CRISIS_988) else uuid4()
    )
    asked = DecisionRequest(
        decision_id=uuid4(),
        actor=CLINICIAN,
        decision=DispatchRequest(
            service=service, resource_id=resource, reason="plan", location=HOME
        ),
    )
    return apply_decision(state, TUNED, asked, NOW)[0]


@pytest.mark.parametrize("tracking", [True, False])
def test_an_unconfirmed_dispatch_is_watched_only_when_tracked(tracking: bool) -> None:
    state = dispatched(DispatchService.MOBILE_CRISIS, tracking)
    key = str(state.dispatches[0].dispatch_id)
    alarm = state.alarm(AlarmName.DISPATCH_UNCONFIRMED, key)
    assert (alarm.due_at if alarm else None) == (NOW + CONFIRM_WINDOW if tracking else None)


def test_an_unconfirmed_directory_dispatch_is_sent_again_and_paged_once_per_round() -> None:
    state = dispatched(DispatchService.MOBILE_CRISIS)
    dispatch_id = state.dispatches[0].dispatch_id
    state, effects = sound_due_alarms(state, TUNED, NOW + CONFIRM_WINDOW)
    [order] = effects.dispatches
    assert (order.dispatch_id, order.attempt, order.service) == (
        dispatch_id,
        2,
        DispatchService.MOBILE_CRISIS,
    )
    [page] = [p for p in effects.pages if p.page_id.startswith("dispatch_unconfirmed")]
    assert page.page_id == f"dispatch_unconfirmed-{dispatch_id}-1"
    assert page.reason == "dispatch not confirmed en route; re-sent to the provider"
    watching = [a for a in state.alarms if a.name is AlarmName.DISPATCH_UNCONFIRMED]
    assert [(a.key, a.pages_sent) for a in watching] == [(str(dispatch_id), 1)]


def test_an_unconfirmed_911_call_asks_the_clinician_to_call_back() -> None:
    state = dispatched(DispatchService.EMERGENCY_911)
    _, effects = sound_due_alarms(state, TUNED, NOW + CONFIRM_WINDOW)
    assert effects.dispatches == []
    reasons = [p.reason for p in effects.pages if p.page_id.startswith("dispatch_unconfirmed")]
    assert reasons == ["911 response not confirmed en route; call the PSAP back"]


def test_a_confirmed_dispatch_is_no_longer_watched() -> None:
    state = dispatched(DispatchService.MOBILE_CRISIS)
    update = DecisionRequest(
        decision_id=uuid4(),
        actor=CLINICIAN,
        decision=DispatchUpdate(
            dispatch_id=state.dispatches[0].dispatch_id, status=DispatchStatus.EN_ROUTE
        ),
    )
    confirmed = apply_decision(state, TUNED, update, NOW + timedelta(minutes=1))[0]
    assert all(a.name is not AlarmName.DISPATCH_UNCONFIRMED for a in confirmed.alarms)
