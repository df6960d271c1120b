"""The incident workflow (type `IncidentWorkflowV2`): one per incident, its state's only writer.

Each decision kind is an Update, one per entry of the decision registry: the validator refuses
what the frozen protocol does not allow (nothing reaches history), the handler applies it and
answers the new state. Every effect the state orders runs as a task of its own with its own
bounded policy (a page, a dispatch packet, a contact ladder, the follow-up, the case file), so
no effect ever waits on another. The run loop only sounds the protocol's alarms, and continues
as new, carrying its state, when the history grows long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from temporalio import workflow

from workflows.decision_updates import DecisionUpdate, decision_update, refuse_unless_allowed
from workflows.incident_effects import IncidentEffects

with workflow.unsafe.imports_passed_through():
    from domain.audit import AuditEntry
    from domain.decisions import DecisionRequest
    from domain.dispatch import DispatchOrder
    from domain.followup import FollowUpNeedsCare, FollowUpResult, FollowUpWelfareCheck
    from domain.incident import (
        DecisionEntry,
        Effects,
        IncidentCarry,
        IncidentOpening,
        IncidentState,
        PageOrder,
        PageTarget,
        SosPress,
        audit,
    )
    from domain.incident.alarms import next_alarm_in, sound_due_alarms
    from domain.incident.machine import (
        apply_decision,
        close_after_followup,
        followup_finished,
        followup_needs_care,
        followup_welfare_check,
        open_incident,
        record_acknowledgement,
        record_ladder_result,
        record_sos_press,
    )
    from domain.notification import LADDER_FINISHED_SIGNAL, Acknowledgement, LadderResult
    from domain.vocabulary import DecisionKind
    from workflows import search_attributes as sa

# Continue as new well before Temporal's limits, also where the server does not suggest it.
CONTINUE_AFTER_EVENTS = 4_000
# News from the follow-up counts only when it names this incident (SPEC 10.2).
FOLLOWUP_NEWS_NAMES_INCIDENT_PATCH = "incident-followup-news-names-incident"
# A Temporal cancel request does not end an incident: every supervisor is paged, it carries on.
OUTLIVES_CANCEL_PATCH = "incident-outlives-cancel"


@workflow.defn(name="IncidentWorkflowV2")
class IncidentWorkflow(IncidentEffects):
    @workflow.init
    def __init__(self, opening: IncidentOpening) -> None:
        self._protocol = opening.protocol
        carry = opening.carried or IncidentCarry(
            state=open_incident(opening, workflow.now()).model_copy(
                update={"dispatch_tracking": True, "followup_tracking": True}
            ),
            audit=[audit.opened(opening)],
        )
        self._state: IncidentState = carry.state
        self._unprojected: list[DecisionEntry] = list(carry.unprojected)
        self._audit: list[AuditEntry] = list(carry.audit)
        self._projected_revision = carry.projected_revision
        self._attempted_revision = carry.projected_revision
        # Orders not yet finished: carried over by continue-as-new, re-run by the next run.
        self._pages: dict[str, PageOrder] = {p.page_id: p for p in carry.pages}
        self._dispatches: dict[str, DispatchOrder] = {
            d.idempotency_key: d for d in carry.dispatches
        }
        self._in_flight = 0
        self._published: tuple[str, ...] = ()

    @workflow.run
    async def run(self, opening: IncidentOpening) -> IncidentState:
        self._publish_search_attributes()
        for page in list(self._pages.values()):
            self._spawn(self._page(page))
        for order in list(self._dispatches.values()):
            self._spawn(self._dispatch(order))
        self._spawn(self._keep_case_file(), counted=False)
        while not self._finished():
            try:
                # Wake when the next alarm is due, or when a decision re-armed the alarms.
                await workflow.wait_condition(
                    self._woken_unless(self._armed()),
                    timeout=next_alarm_in(self._state, workflow.now()),
                )
            except TimeoutError:
                self._state, effects = sound_due_alarms(self._state, self._protocol, workflow.now())
                self._order(effects)
                continue
            except asyncio.CancelledError:
                if not self._cancel_refused():
                    raise
                continue
            if self._should_continue_as_new() and not self._finished():
                workflow.continue_as_new(self._continued(opening))
        while True:
            try:
                await workflow.wait_condition(
                    lambda: self._finished() and self._case_file_settled()
                )
                return self._state
            except asyncio.CancelledError:
                if not self._cancel_refused():
                    raise

    def _cancel_refused(self) -> bool:
        """Nothing in CrisisDesk cancels an incident's workflow: a cancel request comes from
        someone at Temporal itself. Every supervisor is paged and the incident carries on."""
        if not workflow.patched(OUTLIVES_CANCEL_PATCH):
            return False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # handled: later timeouts of the run are timeouts again
        workflow.logger.warning("a cancel request for an incident's workflow was refused")
        at = workflow.now()
        self._order(
            Effects(
                pages=[
                    PageOrder(
                        page_id=f"cancel-refused-{at:%Y%m%dT%H%M%S}",
                        reason="someone asked Temporal to cancel this incident; it carries on",
                        target=PageTarget.ALL_SUPERVISORS,
                        ordered_at=at,
                    )
                ]
            )
        )
        self._audit_event("workflow.cancel_refused", {}, key=f"cancel-refused:{at.isoformat()}")
        return True

    # --- queries and signals ---------------------------------------------------------------

    @workflow.query
    def current(self) -> IncidentState:
        return self._state

    @workflow.signal
    def sos_pressed(self, press: SosPress) -> None:
        """The client pressed the SOS button again, inside the protocol's join window."""
        self._state = record_sos_press(self._state, self._protocol, press)
        self._audit_event(
            "sos.pressed",
            {"press": self._state.sos_presses, "located": press.location is not None},
            actor=(str(self._state.client_id), "client"),
            key=f"sos:{self._state.sos_presses}",
        )

    @workflow.signal
    def contact_acknowledged(self, ack: Acknowledgement) -> None:
        """A recipient acknowledged by the signed link or an SMS reply (the API signals)."""
        self._state, ladder = record_acknowledgement(
            self._state, self._protocol, ack, workflow.now()
        )
        if ladder is None:
            return
        self._spawn(self._tell_ladder(ladder.ladder_id, ack))
        self._audit.append(audit.acknowledged(self._state, ladder.ladder_id, ack, workflow.now()))

    @workflow.signal(name=LADDER_FINISHED_SIGNAL)
    def ladder_finished(self, result: LadderResult) -> None:
        """A contact ladder reports how it ended (it signals, so a continued run hears it)."""
        self._state = record_ladder_result(self._state, result, workflow.now())

    @workflow.signal
    def followup_needs_care(self, news: FollowUpNeedsCare) -> None:
        """The follow-up child reached the client, who needs care again."""
        if self._about_another_incident(news.incident_id):
            return
        self._state, page = followup_needs_care(self._state, self._protocol, workflow.now())
        self._order(Effects(pages=[page]))
        self._audit_event("followup.needs_care", {"task_id": str(news.task_id)})

    @workflow.signal
    def followup_welfare_check(self, news: FollowUpWelfareCheck) -> None:
        """Follow-ups went unanswered in a row: a welfare check is required."""
        if self._about_another_incident(news.incident_id):
            return
        self._state, page = followup_welfare_check(self._state, self._protocol, workflow.now())
        self._order(Effects(pages=[page]))
        self._audit_event("followup.welfare_check", {"task_ids": [str(t) for t in news.task_ids]})

    @workflow.signal
    def followup_finished(self, result: FollowUpResult) -> None:
        """Every follow-up task is settled: the incident closes itself if nobody reopened it."""
        if self._about_another_incident(result.incident_id):
            return
        self._state = followup_finished(self._state, workflow.now())
        if result.cancelled_reason is not None:
            return
        closed = close_after_followup(self._state, self._protocol, workflow.now())
        if closed is not None:
            self._state = closed
            self._audit_event("incident.closed", {"reason": "every follow-up task settled"})
            self._publish_search_attributes()

    def _about_another_incident(self, incident_id: UUID | None) -> bool:
        """News copied from another incident's follow-up is ignored (news from before the
        follow-up named its incident counts, as it did)."""
        if incident_id == self._state.incident_id or not workflow.patched(
            FOLLOWUP_NEWS_NAMES_INCIDENT_PATCH
        ):
            return False
        workflow.logger.warning("follow-up news about another incident ignored")
        return True

    # --- one Update per decision kind (workflows/decision_updates.py) ----------------------

    assessment = decision_update(DecisionKind.ASSESSMENT)
    deescalation = decision_update(DecisionKind.DEESCALATION)
    notify_contacts = decision_update(DecisionKind.NOTIFY_CONTACTS)
    dispatch = decision_update(DecisionKind.DISPATCH)
    dispatch_update = decision_update(DecisionKind.DISPATCH_UPDATE)
    disposition = decision_update(DecisionKind.DISPOSITION)
    contact_lost = decision_update(DecisionKind.CONTACT_LOST)
    contact_restored = decision_update(DecisionKind.CONTACT_RESTORED)
    contact_reached = decision_update(DecisionKind.CONTACT_REACHED)
    note = decision_update(DecisionKind.NOTE)
    reassign = decision_update(DecisionKind.REASSIGN)
    escalate = decision_update(DecisionKind.ESCALATE)
    close = decision_update(DecisionKind.CLOSE)
    cancel = decision_update(DecisionKind.CANCEL)
    reclassify = decision_update(DecisionKind.RECLASSIFY)

    def check_decision(self, kind: DecisionKind, request: DecisionRequest) -> None:
        """The validator of every decision update: refuse, and nothing reaches history."""
        refuse_unless_allowed(self._state, self._protocol, kind, request, workflow.now())

    def make_decision(self, request: DecisionRequest) -> IncidentState:
        """The handler of every decision update: apply, order the effects, answer the state."""
        revision = self._state.revision
        self._state, effects = apply_decision(self._state, self._protocol, request, workflow.now())
        if self._state.revision == revision:
            return self._state  # the same request again: recorded once
        if effects.protocol is not None:
            self._protocol = effects.protocol  # reclassified: its protocol applies from now
        entry = self._state.decisions[-1]
        self._unprojected.append(entry)
        self._audit.append(audit.decided(self._state, entry))
        self._order(effects)
        self._publish_search_attributes()
        return self._state

    # --- lifetime -----------------------------------------------------------------------------

    def _finished(self) -> bool:
        return (
            self._state.stage.is_final
            and not self._state.followup_running
            and self._in_flight == 0
            and workflow.all_handlers_finished()
        )

    def _woken_unless(self, armed: list[tuple[str, str, datetime]]) -> Callable[[], bool]:
        """The run loop's wake-up: the incident is done, history is long, or alarms changed."""
        return lambda: self._finished() or self._should_continue_as_new() or self._armed() != armed

    def _armed(self) -> list[tuple[str, str, datetime]]:
        return [(a.name, a.key, a.due_at) for a in self._state.alarms]

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        long = info.is_continue_as_new_suggested() or (
            info.get_current_history_length() > CONTINUE_AFTER_EVENTS
        )
        return long and self._in_flight == 0 and workflow.all_handlers_finished()

    def _continued(self, opening: IncidentOpening) -> IncidentOpening:
        return opening.model_copy(
            update={
                # A reclassified incident carries on under the protocol it was given.
                "protocol": self._protocol,
                "carried": IncidentCarry(
                    state=self._state,
                    pages=list(self._pages.values()),
                    dispatches=list(self._dispatches.values()),
                    unprojected=self._unprojected,
                    audit=self._audit,
                    projected_revision=self._projected_revision,
                ),
            }
        )

    def _audit_event(
        self,
        action: str,
        detail: dict[str, Any],
        *,
        actor: tuple[str, str] = ("system", "system"),
        key: str | None = None,
    ) -> None:
        self._audit.append(
            audit.incident_event(
                self._state, action, detail, at=workflow.now(), actor=actor, key=key
            )
        )

    def _publish_search_attributes(self) -> None:
        s = self._state
        if workflow.patched(sa.STAGE_AND_PROGRAM_ONLY):
            self._publish_stage_and_program()
            return
        values = (s.stage, s.risk_level or "unassessed", s.crisis_type, str(s.program_id))
        if values == self._published:
            return  # nothing searchable changed: no upsert, no event
        self._published = values
        workflow.upsert_search_attributes(
            [
                sa.STAGE.value_set(values[0]),
                sa.RISK_LEVEL.value_set(values[1]),
                sa.CRISIS_TYPE.value_set(values[2]),
                sa.PROGRAM.value_set(values[3]),
            ]
        )

    def _publish_stage_and_program(self) -> None:
        """Only what tells nothing about the client is searchable (SPEC 10.2); a run that
        carries the retired clinical attributes (from before this patch) clears them."""
        values = (self._state.stage, str(self._state.program_id))
        if values == self._published:
            return
        self._published = values
        held = workflow.info().typed_search_attributes
        workflow.upsert_search_attributes(
            [sa.STAGE.value_set(values[0]), sa.PROGRAM.value_set(values[1])]
            + [
                key.value_unset()
                for key in sa.RETIRED_SEARCH_ATTRIBUTES
                if held.get(key) is not None
            ]
        )


# The typed reference of each decision kind's Update, for the API.
DECISION_UPDATES: dict[DecisionKind, DecisionUpdate] = {
    kind: getattr(IncidentWorkflow, kind.value) for kind in DecisionKind
}
