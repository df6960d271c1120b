"""The incident state machine's own events (SPEC sections 2, 2b, 4 and 5): opening, SOS presses,
acknowledgements, ladder results, follow-up outcomes and the dispatch packet responders read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from domain.decisions import DecisionRequest, Location
from domain.decisions.assessment import Assessment
from domain.decisions.contact_lost import ContactLost
from domain.decisions.dispatch import DispatchRequest
from domain.incident import IncidentState, SosPress
from domain.incident.machine import (
    apply_decision,
    close_after_followup,
    followup_finished,
    followup_needs_care,
    followup_started,
    followup_welfare_check,
    open_incident,
    record_acknowledgement,
    record_ladder_result,
    record_sos_press,
    refusal,
)
from domain.incident.rules import dispatch_order
from domain.incident.state import Effects, PageTarget
from domain.notification import Acknowledgement, LadderPurpose, LadderResult, LadderStatus
from domain.protocols import protocol_for
from domain.vocabulary import Channel, CrisisType, DispatchService, Instrument, Stage
from tests.helpers.domain_builders import (
    CLINICIAN,
    HOME,
    LATER,
    NOW,
    OWNER,
    PROGRAM,
    decision_request,
    opening,
    tracking,
)

PARK = Location(zip="97205")
PROTOCOL = protocol_for(CrisisType.SUICIDAL_IDEATION)
CSSRS = {"wish_dead": True, "suicidal_thoughts": True, "method": False, "plan": False}
CSSRS_HIGH = CSSRS | {"intent": True, "behavior": False}
CSSRS_MODERATE = CSSRS | {"intent": False, "method": True, "behavior": False}


def opened(origin: str = "clinician", location: Location | None = None) -> IncidentState:
    asked = opening(
        opened_at=NOW - timedelta(seconds=5),
        origin=origin,
        location=location,
        request_digest="opening-digest",
    )
    return tracking(open_incident(asked, NOW))


def decide(
    state: IncidentState, decision: object, at: datetime = LATER, **extra: object
) -> tuple[IncidentState, Effects]:
    return apply_decision(state, PROTOCOL, decision_request(decision, **extra), at)


def assessed(answers: dict[str, bool]) -> IncidentState:
    return decide(opened(), Assessment(instrument=Instrument.CSSRS_SCREENER, answers=answers))[0]


def lost(answers: dict[str, bool]) -> IncidentState:
    return decide(assessed(answers), ContactLost(), client_channels=(Channel.SMS,))[0]


def test_an_opened_incident_records_who_where_and_which_protocol() -> None:
    state = opened(location=HOME)
    assert state.workflow_id == f"incident-{state.incident_id}"
    assert (state.opened_by, state.owner_id, state.program_id) == (str(OWNER), OWNER, PROGRAM)
    assert (state.opened_at, state.updated_at) == (NOW - timedelta(seconds=5),) * 2
    assert (state.protocol_version, state.location) == (PROTOCOL.version, HOME)
    assert (state.stage, state.sos_presses, state.origin) == (Stage.OPEN, 0, "clinician")
    assert (state.summary, state.request_digest) == ("a crisis", "opening-digest")


def test_an_sos_counts_its_presses_and_keeps_the_newest_location() -> None:
    state = opened("sos", location=HOME)
    assert (state.origin, state.sos_presses) == ("sos", 1)
    pressed = record_sos_press(state, PROTOCOL, SosPress(at=LATER, location=PARK))
    assert (pressed.sos_presses, pressed.location, pressed.updated_at) == (2, PARK, LATER)
    assert pressed.revision == state.revision + 1
    again = record_sos_press(pressed, PROTOCOL, SosPress(at=LATER + timedelta(minutes=1)))
    assert (again.sos_presses, again.location) == (3, PARK)


def test_a_decision_is_recorded_once_with_who_when_and_its_digest() -> None:
    state = opened()
    asked = DecisionRequest.model_validate(
        {
            "decision_id": uuid4(),
            "actor": CLINICIAN,
            "decision": {"kind": "note", "text": "called"},
            "request_digest": "d1",
        }
    )
    after, _ = apply_decision(state, PROTOCOL, asked, LATER)
    entry = after.decisions[-1]
    assert (entry.decision_id, entry.kind, entry.actor_id, entry.actor_role, entry.at) == (
        asked.decision_id,
        "note",
        str(OWNER),
        "clinician",
        LATER,
    )
    assert (entry.request_digest, entry.documentation) == ("d1", {"text": "called"})
    assert (after.revision, after.updated_at) == (state.revision + 1, LATER)
    again, effects = apply_decision(after, PROTOCOL, asked, LATER + timedelta(minutes=1))
    assert again is after
    assert effects == Effects()


@pytest.mark.parametrize(("answers", "restored"), [(CSSRS_MODERATE, True), (CSSRS_HIGH, False)])
def test_the_clients_own_acknowledgement_ends_lost_contact_only_below_high_risk(
    answers: dict[str, bool], restored: bool
) -> None:
    state = lost(answers)
    ack = Acknowledgement(recipient_id=state.client_id, via="sms_reply")
    after, ladder = record_acknowledgement(state, PROTOCOL, ack, LATER + timedelta(minutes=1))
    assert ladder is not None
    assert (ladder.purpose, ladder.status, ladder.acknowledged_via) == (
        LadderPurpose.LOST_CONTACT,
        LadderStatus.ACKNOWLEDGED,
        "sms_reply",
    )
    assert after.contact_lost is not restored
    assert (after.revision, after.updated_at) == (state.revision + 1, LATER + timedelta(minutes=1))
    assert state.ladders[-1].status is LadderStatus.RUNNING


def test_an_acknowledgement_from_someone_on_no_ladder_changes_no_ladder() -> None:
    state = lost(CSSRS_MODERATE)
    after, ladder = record_acknowledgement(
        state, PROTOCOL, Acknowledgement(recipient_id=uuid4(), via="link"), LATER
    )
    assert ladder is None
    assert after.contact_lost is True


def test_a_ladder_result_records_its_end_once() -> None:
    state = lost(CSSRS_MODERATE)
    ladder_id = state.ladders[-1].ladder_id
    who = state.client_id
    result = LadderResult(
        ladder_id=ladder_id,
        status=LadderStatus.EXHAUSTED,
        acknowledged_by=who,
        acknowledged_via="voice",
    )
    ended = record_ladder_result(state, result, LATER + timedelta(minutes=10))
    ladder = ended.ladders[-1]
    assert (ladder.status, ladder.ended_at, ladder.acknowledged_by, ladder.acknowledged_via) == (
        LadderStatus.EXHAUSTED,
        LATER + timedelta(minutes=10),
        who,
        "voice",
    )
    assert (ended.revision, ended.updated_at) == (state.revision + 1, LATER + timedelta(minutes=10))
    later = record_ladder_result(
        ended, result.model_copy(update={"acknowledged_via": "sms"}), LATER + timedelta(hours=1)
    )
    assert (later.ladders[-1].ended_at, later.ladders[-1].acknowledged_via) == (
        LATER + timedelta(minutes=10),
        "voice",
    )


def in_follow_up() -> IncidentState:
    plan = {
        section: ["one item"]
        for section in (
            "warning_signs",
            "internal_coping",
            "social_distractions",
            "people_to_ask",
            "professionals",
            "means_safety",
        )
    }
    stabilized, _ = decide(
        assessed(CSSRS_MODERATE),
        {"kind": "disposition", "outcome": "remained_home_with_safety_plan", "safety_plan": plan},
    )
    return followup_started(stabilized, LATER)


def test_a_follow_up_moves_the_incident_to_follow_up_and_back_out() -> None:
    state = in_follow_up()
    assert (state.stage, state.followup_started, state.followup_running) == (
        Stage.FOLLOW_UP,
        True,
        True,
    )
    finished = followup_finished(state, LATER + timedelta(days=30))
    assert (finished.followup_running, finished.updated_at) == (False, LATER + timedelta(days=30))
    assert finished.revision == state.revision + 1


def test_a_client_who_needs_care_reopens_clinical_work_and_pages_the_owner() -> None:
    state = in_follow_up()
    reopened, page = followup_needs_care(state, PROTOCOL, LATER + timedelta(days=1))
    assert reopened.stage is Stage.ASSESSING
    assert (page.target, page.staff_id) == (PageTarget.STAFF, OWNER)
    assert page.reason == "a follow-up found the client needs care again; clinical work is reopened"
    assert page.page_id == f"followup-needs-care-{reopened.revision}"
    assert reopened.revision == state.revision + 1
    assert close_after_followup(reopened, PROTOCOL, LATER + timedelta(days=2)) is None


def test_unanswered_follow_ups_require_a_welfare_check_on_a_new_clock() -> None:
    state = in_follow_up()
    when = LATER + timedelta(days=3)
    checked, page = followup_welfare_check(state, PROTOCOL, when)
    assert (checked.welfare_check_required, checked.dispatch_required_since) == (True, when)
    assert (page.target, page.page_id) == (
        PageTarget.ON_CALL_SUPERVISOR,
        f"followup-welfare-check-{checked.revision}",
    )
    assert page.reason == "follow-ups went unanswered; a welfare check is required"
    again, _ = followup_welfare_check(checked, PROTOCOL, when + timedelta(days=4))
    assert again.dispatch_required_since == when + timedelta(days=4)


def test_settled_follow_ups_close_the_incident() -> None:
    state = in_follow_up()
    when = LATER + timedelta(days=30)
    closed = close_after_followup(state, PROTOCOL, when)
    assert closed is not None
    assert (closed.stage, closed.ended_at, closed.updated_at) == (Stage.CLOSED, when, when)
    assert closed.revision == state.revision + 1
    assert closed.allowed_decisions == []


def test_the_dispatch_packet_says_what_was_done_but_never_the_notes() -> None:
    state, _ = decide(
        opened(),
        Assessment(
            instrument=Instrument.CSSRS_SCREENER, answers=CSSRS_HIGH, notes="mentions a firearm"
        ),
    )
    state, effects = decide(
        state,
        DispatchRequest(service=DispatchService.EMERGENCY_911, reason="plan", location=HOME),
        at=LATER + timedelta(minutes=1),
    )
    [order] = effects.dispatches
    assert order.done_so_far == [
        "12:03 assessment (instrument=cssrs_screener, computed_risk=high, risk_level=high,"
        " overridden=False)"
    ]
    assert (order.incident_id, order.program_id, order.client_id) == (
        state.incident_id,
        PROGRAM,
        state.client_id,
    )
    assert (order.crisis_type, order.risk_level, order.requested_by) == (
        "suicidal_ideation",
        "high",
        str(OWNER),
    )
    assert order.service is DispatchService.EMERGENCY_911


def test_a_decision_leaves_the_state_it_was_given_unchanged_and_counts_revisions() -> None:
    state, _ = decide(opened(), {"kind": "note", "text": "first"})
    before = state.model_dump()
    after, _ = decide(state, {"kind": "note", "text": "second"})
    assert state.model_dump() == before
    assert after.revision == state.revision + 1 == 2


def test_replays_and_reused_keys_are_refused_in_words_a_caller_can_act_on() -> None:
    state, _ = decide(opened(), {"kind": "note", "text": "first"}, request_digest="a")
    reused = DecisionRequest.model_validate(
        {
            "decision_id": state.decisions[-1].decision_id,
            "actor": CLINICIAN,
            "decision": {"kind": "note", "text": "other"},
            "request_digest": "b",
        }
    )
    found = refusal(state, PROTOCOL, reused, LATER)
    assert found is not None
    assert found.detail == "this Idempotency-Key was used for a different decision"
    state.callback_events.append("evt-1")
    replay = reused.model_copy(update={"decision_id": uuid4(), "callback_event_id": "evt-1"})
    found = refusal(state, PROTOCOL, replay, LATER)
    assert found is not None
    assert found.detail == "this callback was already applied"


def test_an_acknowledgement_naming_its_ladder_acknowledges_that_ladder() -> None:
    state = lost(CSSRS_MODERATE)
    older = state.ladders[-1].ladder_id
    state, _ = decide(state, {"kind": "contact_restored", "how": "called back"})
    state, _ = decide(state, ContactLost(), client_channels=(Channel.SMS,))
    at = LATER + timedelta(minutes=2)
    before = state.model_dump()
    after, ladder = record_acknowledgement(
        state,
        PROTOCOL,
        Acknowledgement(ladder_id=older, recipient_id=state.client_id, via="link"),
        at,
    )
    assert state.model_dump() == before
    assert ladder is not None and ladder.ladder_id == older
    newest = after.ladders[-1]
    assert (newest.status, newest.acknowledged_by) == (LadderStatus.RUNNING, None)
    _, ladder = record_acknowledgement(
        state, PROTOCOL, Acknowledgement(recipient_id=state.client_id, via="link"), at
    )
    assert ladder is not None
    assert (ladder.ladder_id, ladder.status, ladder.ended_at) == (
        state.ladders[-1].ladder_id,
        LadderStatus.ACKNOWLEDGED,
        at,
    )


def test_a_ladder_result_leaves_the_state_it_was_given_unchanged() -> None:
    state = lost(CSSRS_MODERATE)
    before = state.model_dump()
    record_ladder_result(
        state,
        LadderResult(ladder_id=state.ladders[-1].ladder_id, status=LadderStatus.EXHAUSTED),
        LATER,
    )
    assert state.model_dump() == before


def test_follow_up_events_stamp_the_time_and_count_a_revision() -> None:
    stabilized = in_follow_up()
    when = LATER + timedelta(days=1)
    started = followup_started(stabilized, when)
    assert (started.updated_at, started.revision, started.allowed_decisions) == (
        when,
        stabilized.revision + 1,
        [],
    )
    cared, _ = followup_needs_care(stabilized, PROTOCOL, when)
    assert cared.updated_at == when
    checked, _ = followup_welfare_check(stabilized, PROTOCOL, when)
    assert (checked.updated_at, checked.revision) == (when, stabilized.revision + 1)
    pressed = record_sos_press(stabilized, PROTOCOL, SosPress(at=when))
    assert pressed.revision == stabilized.revision + 1


def test_the_packet_lists_a_decision_without_facts_bare_and_drops_empty_facts() -> None:
    state, _ = decide(opened(), {"kind": "note", "text": "called the client"})
    state, _ = decide(
        state,
        DispatchRequest(
            service=DispatchService.EMERGENCY_911, reason="plan", location=HOME, reference=""
        ),
    )
    _, effects = decide(
        state,
        DispatchRequest(service=DispatchService.CRISIS_988, reason="again"),
        at=LATER + timedelta(minutes=1),
    )
    lines = effects.dispatches[0].done_so_far
    assert lines[0] == "12:03 note"
    assert "reference=" not in lines[1]


def test_a_dispatch_without_a_reason_is_re_sent_saying_so() -> None:
    state, _ = decide(
        opened(),
        DispatchRequest(service=DispatchService.EMERGENCY_911, reason="plan", location=HOME),
    )
    nameless = state.dispatches[0].model_copy(update={"reason": None})
    assert dispatch_order(state, nameless, attempt=2).reason == "re-sent: not confirmed en route"
