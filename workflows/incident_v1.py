"""The first incident workflow type (`IncidentWorkflow`), frozen: incidents opened before
effects ran independently finish on it, and their recorded histories replay on it. New incidents
start `workflows.incident.IncidentWorkflow` (type `IncidentWorkflowV2`). Change nothing here but
what keeps it replaying."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

from workflows.decision_updates import decision_update, refuse_unless_allowed
from workflows.followup import FollowUpWorkflow
from workflows.notification import ContactLadderWorkflow
from workflows.paging import page_staff

with workflow.unsafe.imports_passed_through():
    from activities.casefile import CasefileActivities
    from activities.dispatch import DispatchActivities
    from domain.audit import AuditEntry
    from domain.decisions import DecisionRequest
    from domain.dispatch import DispatchOrder
    from domain.effects import IncidentProjection
    from domain.followup import (
        CancelFollowUp,
        FollowUpNeedsCare,
        FollowUpPlan,
        FollowUpResult,
        FollowUpWelfareCheck,
        followup_workflow_id,
    )
    from domain.incident import (
        DecisionEntry,
        IncidentOpening,
        IncidentState,
        PageOrder,
        PageRecord,
        PageTarget,
        SosPress,
        audit,
    )
    from domain.incident.alarms import next_alarm_in, settle, sound_due_alarms
    from domain.incident.machine import (
        apply_decision,
        close_after_followup,
        followup_needs_care,
        followup_started,
        followup_welfare_check,
        open_incident,
        record_acknowledgement,
        record_ladder_result,
        record_sos_press,
    )
    from domain.notification import (
        Acknowledgement,
        LadderPlan,
        LadderResult,
        LadderStatus,
        ladder_workflow_id,
    )
    from domain.vocabulary import DecisionKind
    from workflows import search_attributes as sa

PROJECTION_TIMEOUT = timedelta(seconds=10)
# Retry the case file forever with a capped backoff: a database outage delays, never loses.
CASEFILE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
DISPATCH_TRACKING_PATCH = "dispatch-packets-and-confirmations"
FOLLOWUP_PATCH = "followup-child-on-disposition"
DISPATCH_TIMEOUT = timedelta(seconds=30)
DISPATCH_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflowV1:
    @workflow.init
    def __init__(self, opening: IncidentOpening) -> None:
        self._protocol = opening.protocol
        self._state = open_incident(opening, workflow.now())
        self._opened_by = opening.opened_by
        self._unprojected: list[DecisionEntry] = []
        self._audit: list[AuditEntry] = [audit.opened(opening)]
        self._pages: list[PageOrder] = []
        self._ladders_to_start: list[LadderPlan] = []
        self._acks_to_forward: list[Acknowledgement] = []
        self._running_ladders: dict[UUID, ChildWorkflowHandle[Any, LadderResult]] = {}
        self._stop_ladders: list[UUID] = []
        self._dispatches_to_send: list[DispatchOrder] = []
        self._followup_to_start: FollowUpPlan | None = None
        self._followup: ChildWorkflowHandle[Any, FollowUpResult] | None = None
        self._projected_revision = -1

    @workflow.run
    async def run(self, opening: IncidentOpening) -> IncidentState:
        # Versioning: histories recorded before dispatch tracking replay without it.
        self._state.dispatch_tracking = workflow.patched(DISPATCH_TRACKING_PATCH)
        self._state.followup_tracking = workflow.patched(FOLLOWUP_PATCH)
        self._publish_search_attributes()
        while True:
            await self._send_pages()
            await self._send_dispatches()
            await self._run_ladders()
            await self._run_followup()
            await self._project()
            if self._state.stage.is_final:
                break
            try:
                await workflow.wait_condition(
                    lambda: self._has_work(),
                    timeout=next_alarm_in(self._state, workflow.now()),
                )
            except TimeoutError:
                self._state, effects = sound_due_alarms(self._state, self._protocol, workflow.now())
                self._pages.extend(effects.pages)
                self._dispatches_to_send.extend(effects.dispatches)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._send_pages()
        await self._run_ladders()
        await self._project()
        return self._state

    @workflow.query
    def current(self) -> IncidentState:
        return self._state

    @workflow.signal
    def followup_needs_care(self, news: FollowUpNeedsCare) -> None:
        """The follow-up child reached the client, who needs care again."""
        self._state, page = followup_needs_care(self._state, self._protocol, workflow.now())
        self._pages.append(page)
        self._audit_system("followup.needs_care", {"task_id": str(news.task_id)})

    @workflow.signal
    def followup_welfare_check(self, news: FollowUpWelfareCheck) -> None:
        """Follow-ups went unanswered in a row: a welfare check is required."""
        self._state, page = followup_welfare_check(self._state, self._protocol, workflow.now())
        self._pages.append(page)
        self._audit_system("followup.welfare_check", {"task_ids": [str(t) for t in news.task_ids]})

    def _page_supervisor(self, page_id: str, reason: str) -> None:
        """Something the workflow ordered could not be done: the on-call supervisor takes over."""
        self._pages.append(
            PageOrder(
                page_id=page_id,
                reason=reason,
                target=PageTarget.ON_CALL_SUPERVISOR,
                ordered_at=workflow.now(),
            )
        )

    def _audit_system(self, action: str, detail: dict[str, Any]) -> None:
        self._audit.append(audit.incident_event(self._state, action, detail, at=workflow.now()))

    @workflow.signal
    def sos_pressed(self, press: SosPress) -> None:
        """The client pressed the SOS button again, inside the protocol's join window."""
        self._state = record_sos_press(self._state, self._protocol, press)
        self._audit.append(
            audit.incident_event(
                self._state,
                "sos.pressed",
                {"press": self._state.sos_presses, "located": press.location is not None},
                at=press.at,
                actor=(str(self._state.client_id), "client"),
                key=f"sos:{self._state.sos_presses}",
            )
        )

    @workflow.signal
    def contact_acknowledged(self, ack: Acknowledgement) -> None:
        """A recipient acknowledged by the signed link or an SMS reply (the API signals)."""
        now = workflow.now()
        self._state, ladder = record_acknowledgement(self._state, self._protocol, ack, now)
        if ladder is None:
            return
        self._acks_to_forward.append(ack.model_copy(update={"ladder_id": ladder.ladder_id}))
        self._audit.append(audit.acknowledged(self._state, ladder.ladder_id, ack, now))

    # --- one Update per decision kind (the V1 set: no contact_reached) -------------------

    assessment = decision_update(DecisionKind.ASSESSMENT)
    deescalation = decision_update(DecisionKind.DEESCALATION)
    notify_contacts = decision_update(DecisionKind.NOTIFY_CONTACTS)
    dispatch = decision_update(DecisionKind.DISPATCH)
    dispatch_update = decision_update(DecisionKind.DISPATCH_UPDATE)
    disposition = decision_update(DecisionKind.DISPOSITION)
    contact_lost = decision_update(DecisionKind.CONTACT_LOST)
    contact_restored = decision_update(DecisionKind.CONTACT_RESTORED)
    note = decision_update(DecisionKind.NOTE)
    reassign = decision_update(DecisionKind.REASSIGN)
    escalate = decision_update(DecisionKind.ESCALATE)
    close = decision_update(DecisionKind.CLOSE)
    cancel = decision_update(DecisionKind.CANCEL)

    # --- the decision path -----------------------------------------------------------------

    def check_decision(self, kind: DecisionKind, request: DecisionRequest) -> None:
        refuse_unless_allowed(self._state, self._protocol, kind, request, workflow.now())

    def make_decision(self, request: DecisionRequest) -> IncidentState:
        now = workflow.now()
        self._state, effects = apply_decision(self._state, self._protocol, request, now)
        entry = self._state.decisions[-1]
        self._unprojected.append(entry)
        self._audit.append(audit.decided(self._state, entry))
        self._pages.extend(effects.pages)
        self._ladders_to_start.extend(effects.ladders)
        self._acks_to_forward.extend(effects.acknowledgements)
        self._dispatches_to_send.extend(effects.dispatches)
        self._followup_to_start = effects.followup or self._followup_to_start
        self._stop_ladders.extend(effects.stop_ladders)
        self._publish_search_attributes()
        return self._state

    # --- effects ---------------------------------------------------------------------------

    def _has_work(self) -> bool:
        return (
            bool(self._pages)
            or self._followup_to_start is not None
            or bool(self._dispatches_to_send)
            or bool(self._ladders_to_start)
            or bool(self._acks_to_forward)
            or any(ladder in self._running_ladders for ladder in self._stop_ladders)
            or self._state.revision != self._projected_revision
            or self._state.stage.is_final
        )

    async def _project(self) -> None:
        while self._state.revision != self._projected_revision:
            state = self._state
            decisions, self._unprojected = self._unprojected, []
            audit, self._audit = self._audit, []
            await workflow.execute_activity_method(
                CasefileActivities.record_incident,
                IncidentProjection(state=state, decisions=decisions, audit=audit),
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=CASEFILE_RETRY,
            )
            self._projected_revision = state.revision

    async def _send_pages(self) -> None:
        while self._pages:
            order = self._pages.pop(0)
            result = await page_staff(self._state.incident_id, self._state.program_id, order)
            self._state.pages.append(
                PageRecord(
                    page_id=order.page_id,
                    reason=order.reason,
                    target=order.target,
                    at=workflow.now(),
                    recipients=result.recipients,
                    channel=result.channel,
                    delivered=result.delivered,
                )
            )
            self._state.revision += 1
            self._state = settle(self._state, self._protocol, workflow.now())

    async def _run_followup(self) -> None:
        if self._followup_to_start is not None:
            plan, self._followup_to_start = self._followup_to_start, None
            self._followup = await workflow.start_child_workflow(
                FollowUpWorkflow.run,
                plan,
                id=followup_workflow_id(plan.incident_id),
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
            self._state = followup_started(self._state, workflow.now())
            self._state = settle(self._state, self._protocol, workflow.now())
            asyncio.create_task(self._await_followup(self._followup))  # noqa: RUF006
        if self._followup is not None and self._state.stage.is_final:
            following, self._followup = self._followup, None
            with contextlib.suppress(ApplicationError):  # it may have finished meanwhile
                await following.signal(
                    FollowUpWorkflow.cancel_all,
                    CancelFollowUp(reason=f"incident {self._state.stage}"),
                )

    async def _await_followup(self, handle: ChildWorkflowHandle[Any, FollowUpResult]) -> None:
        try:
            result = await handle
        except ChildWorkflowError:
            self._page_supervisor(
                "followup-failed", "follow-up scheduling failed; arrange the check-ins by hand"
            )
            return
        if result.cancelled_reason is not None:
            return
        closed = close_after_followup(self._state, self._protocol, workflow.now())
        if closed is not None:
            self._state = closed
            self._followup = None
            self._audit_system("incident.closed", {"reason": "every follow-up task settled"})
            self._publish_search_attributes()

    async def _send_dispatches(self) -> None:
        while self._dispatches_to_send:
            order = self._dispatches_to_send.pop(0)
            try:
                await workflow.execute_activity_method(
                    DispatchActivities.send_dispatch_packet,
                    order,
                    start_to_close_timeout=DISPATCH_TIMEOUT,
                    retry_policy=DISPATCH_RETRY,
                )
            except ActivityError:
                # The provider stayed down: a person must call it. The alarm re-sends later too.
                self._page_supervisor(
                    f"dispatch-{order.dispatch_id}-{order.attempt}-undelivered",
                    "the dispatch packet could not be delivered; call the provider",
                )

    async def _run_ladders(self) -> None:
        """Start ordered ladders, pass acknowledgements on, stop ladders the incident ended."""
        while self._ladders_to_start:
            plan = self._ladders_to_start.pop(0)
            handle = await workflow.start_child_workflow(
                ContactLadderWorkflow.run,
                plan,
                id=ladder_workflow_id(plan.incident_id, plan.ladder_id),
                # An incident that ends stops its ladders (no further rung), but a message
                # already in delivery (retrying while a relay is down, say) is still delivered
                # and its attempt recorded: terminating the ladder would drop it half-sent.
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
            self._running_ladders[plan.ladder_id] = handle
            asyncio.create_task(self._await_ladder(plan.ladder_id, handle))  # noqa: RUF006
        while self._acks_to_forward:
            ack = self._acks_to_forward.pop(0)
            running = self._running_ladders.get(ack.ladder_id) if ack.ladder_id else None
            if running is None:
                for ladder in reversed(self._state.ladders):
                    if ack.recipient_id in ladder.recipient_ids:
                        running = self._running_ladders.get(ladder.ladder_id)
                        break
            if running is not None:
                with contextlib.suppress(ApplicationError):  # the ladder may have finished
                    await running.signal(ContactLadderWorkflow.acknowledge, ack)
        while self._stop_ladders:
            stopping = self._running_ladders.get(self._stop_ladders.pop(0))
            if stopping is not None:
                with contextlib.suppress(ApplicationError):
                    await stopping.signal(ContactLadderWorkflow.stop)

    async def _await_ladder(
        self, ladder_id: UUID, handle: ChildWorkflowHandle[Any, LadderResult]
    ) -> None:
        try:
            result = await handle
        except ChildWorkflowError:
            # A ladder that failed reached nobody for sure: a person must take over.
            result = LadderResult(ladder_id=ladder_id, status=LadderStatus.EXHAUSTED)
            self._page_supervisor(
                f"ladder-{ladder_id}-failed",
                "a contact notification failed; reach the contacts by hand",
            )
        self._running_ladders.pop(ladder_id, None)
        self._state = record_ladder_result(self._state, result, workflow.now())

    def _publish_search_attributes(self) -> None:
        s = self._state
        workflow.upsert_search_attributes(
            [
                sa.STAGE.value_set(s.stage),
                sa.RISK_LEVEL.value_set(s.risk_level or "unassessed"),
                sa.CRISIS_TYPE.value_set(s.crisis_type),
                sa.PROGRAM.value_set(str(s.program_id)),
            ]
        )
