"""The protocol's timers: armed while their condition holds, sounding pages on the backoff."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from domain.dispatch import CLINICIAN_CALLED_SERVICES
from domain.incident.rules import at_least, dispatch_order, find_dispatch, require_dispatch
from domain.incident.state import Alarm, AlarmName, Effects, IncidentState, PageOrder, PageTarget
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import DispatchStatus, RiskLevel


def settle(state: IncidentState, protocol: CrisisProtocol, now: datetime) -> IncidentState:
    """Bring the derived parts of the state (alarms, allowed decisions) in step with it."""
    state.allowed_decisions = protocol.allowed_in(state.stage)
    return arm_alarms(state, protocol, now)


def rewindow(state: IncidentState, protocol: CrisisProtocol) -> None:
    """Give the timers that have not sounded yet the windows of `protocol` (a reclassified
    incident), from when each was armed; one that has paged keeps its escalation backoff."""
    windows = {
        AlarmName.ASSESSMENT_OVERDUE: protocol.assessment_window,
        AlarmName.DISPATCH_OVERDUE: protocol.dispatch_window,
        AlarmName.DISPATCH_UNCONFIRMED: protocol.dispatch_confirm_window,
        AlarmName.CONTACT_LOST: protocol.lost_contact_window,
    }
    for alarm in state.alarms:
        if alarm.pages_sent == 0 and alarm.name in windows:
            alarm.due_at = alarm.armed_at + windows[alarm.name]
    state.alarms.sort(key=lambda a: a.due_at)


def arm_alarms(state: IncidentState, protocol: CrisisProtocol, now: datetime) -> IncidentState:
    """Arm the protocol's timers whose condition holds; drop those whose condition cleared."""
    wanted: dict[tuple[AlarmName, str], tuple[datetime, timedelta]] = {}
    if not state.stage.is_final:
        if not state.assessments:
            # Armed once, when the incident opens; an armed alarm keeps its clock.
            wanted[AlarmName.ASSESSMENT_OVERDUE, ""] = (now, protocol.assessment_window)
        if state.dispatch_required_since is not None and not state.has_active_dispatch:
            wanted[AlarmName.DISPATCH_OVERDUE, ""] = (
                state.dispatch_required_since,
                protocol.dispatch_window,
            )
        if state.origin == "sos" and not any(d.actor_role != "system" for d in state.decisions):
            wanted[AlarmName.SOS_UNANSWERED, ""] = (now, timedelta(0))
        if state.contact_lost and state.contact_lost_since is not None:
            wanted[AlarmName.CONTACT_LOST, ""] = (
                state.contact_lost_since,
                protocol.lost_contact_window,
            )
        for dispatch in state.dispatches if state.dispatch_tracking else []:
            if dispatch.status is DispatchStatus.REQUESTED:
                wanted[AlarmName.DISPATCH_UNCONFIRMED, str(dispatch.dispatch_id)] = (
                    dispatch.requested_at,
                    protocol.dispatch_confirm_window,
                )
    alarms = [a for a in state.alarms if (a.name, a.key) in wanted]
    for (name, key), (armed_at, window) in wanted.items():
        if state.alarm(name, key) is None:
            alarms.append(Alarm(name=name, key=key, armed_at=armed_at, due_at=armed_at + window))
    state.alarms = sorted(alarms, key=lambda a: a.due_at)
    return state


def sound_due_alarms(
    state: IncidentState, protocol: CrisisProtocol, now: datetime
) -> tuple[IncidentState, Effects]:
    """Page for every alarm that is due and set it to repeat on the escalation policy; an
    unconfirmed dispatch also has its packet sent to the provider again."""
    s = state.model_copy(deep=True)
    effects = Effects()
    for alarm in s.alarms:
        if alarm.due_at > now:
            continue
        alarm.pages_sent += 1
        widened = alarm.pages_sent > protocol.escalation.widen_after_pages
        target = PageTarget.ALL_SUPERVISORS if widened else PageTarget.ON_CALL_SUPERVISOR
        staff_id = None
        if alarm.name is AlarmName.SOS_UNANSWERED and not widened:
            target, staff_id = PageTarget.STAFF, s.owner_id
        if alarm.name is AlarmName.CONTACT_LOST and at_least(s.risk_level, RiskLevel.HIGH):
            # Not reached in time at high risk: a welfare check at the last known location.
            s.welfare_check_required = True
            require_dispatch(s, now)
        label = f"{alarm.name}-{alarm.key}" if alarm.key else str(alarm.name)
        reason = _ALARM_REASONS[alarm.name]
        if alarm.name is AlarmName.DISPATCH_UNCONFIRMED:
            unconfirmed = find_dispatch(s, UUID(alarm.key))
            assert unconfirmed is not None  # the alarm is armed per existing dispatch
            order = dispatch_order(s, unconfirmed, attempt=alarm.pages_sent + 1)
            if order.service in CLINICIAN_CALLED_SERVICES:
                reason = f"{order.service} response not confirmed en route; call the PSAP back"
            else:
                effects.dispatches.append(order)
        effects.pages.append(
            PageOrder(
                page_id=f"{label}-{alarm.pages_sent}",
                reason=reason,
                target=target,
                ordered_at=now,
                staff_id=staff_id,
            )
        )
        alarm.due_at = now + protocol.escalation.repeat_after(alarm.pages_sent)
    return arm_alarms(s, protocol, now), effects


def next_alarm_in(state: IncidentState, now: datetime) -> timedelta | None:
    if not state.alarms:
        return None
    return max(state.alarms[0].due_at - now, timedelta(0))


_ALARM_REASONS = {
    AlarmName.ASSESSMENT_OVERDUE: "no assessment within the protocol's window",
    AlarmName.DISPATCH_OVERDUE: "dispatch required and not started",
    AlarmName.DISPATCH_UNCONFIRMED: "dispatch not confirmed en route; re-sent to the provider",
    AlarmName.SOS_UNANSWERED: "the client pressed the SOS button; nobody has acted yet",
    AlarmName.CONTACT_LOST: "contact with the client is lost and they have not been reached",
}
