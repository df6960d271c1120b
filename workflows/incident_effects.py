"""The incident workflow's effects: each one a task of its own with its own bounded policy.

A page, a dispatch packet, a contact ladder, the follow-up and the case-file projection never
wait on one another: each is spawned as it is ordered, bounded by its own budget, and ends in a
person (a page to the supervisor) when it cannot be done. `IncidentWorkflow` orders; this
class carries out. Workflow code only: no I/O here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

from workflows.followup import FollowUpWorkflow
from workflows.notification import ContactLadderWorkflow
from workflows.paging import page_staff

with workflow.unsafe.imports_passed_through():
    from activities.casefile import CasefileActivities
    from activities.dispatch import DispatchActivities
    from domain.audit import AuditEntry
    from domain.dispatch import DispatchOrder
    from domain.effects import IncidentProjection, PageResult
    from domain.followup import CancelFollowUp, FollowUpPlan, FollowUpResult, followup_workflow_id
    from domain.incident import (
        PAGES_KEPT,
        UNREACHABLE_KEPT,
        DecisionEntry,
        Effects,
        IncidentState,
        PageOrder,
        PageRecord,
        PageTarget,
        UnreachableEntry,
    )
    from domain.incident.alarms import settle
    from domain.incident.machine import followup_finished, followup_started, record_ladder_result
    from domain.incident.rules import ladder_with
    from domain.notification import (
        Acknowledgement,
        LadderPlan,
        LadderResult,
        LadderStatus,
        StopLadder,
        ladder_workflow_id,
    )
    from domain.protocols.base import CrisisProtocol

# The case file: one write's time, and a budget for a database outage before it is flagged.
PROJECTION_TIMEOUT = timedelta(seconds=10)
PROJECTION_BUDGET = timedelta(minutes=10)
PROJECTION_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=["ProjectionDataError"]
)
# After a failed write the next revision tries again, or this backoff (doubling) if none comes.
PROJECTION_RECHECK = (timedelta(minutes=1), timedelta(hours=1))
DISPATCH_TIMEOUT = timedelta(seconds=30)
DISPATCH_BUDGET = timedelta(minutes=5)
DISPATCH_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=["PermanentDeliveryError"]
)
# A ladder is stopped by `stop_ladder` naming it (its bare `stop` is ignored since).
STOP_LADDER_PATCH = "incident-stops-ladder-by-name"


class IncidentEffects:
    """The effects half of the incident workflow; its state is the workflow's."""

    _protocol: CrisisProtocol
    _state: IncidentState
    _unprojected: list[DecisionEntry]
    _audit: list[AuditEntry]
    _projected_revision: int
    _attempted_revision: int
    _pages: dict[str, PageOrder]
    _dispatches: dict[str, DispatchOrder]
    _in_flight: int

    def _order(self, effects: Effects) -> None:
        for page in effects.pages:
            if page.page_id not in self._pages:
                self._pages[page.page_id] = page
                self._spawn(self._page(page))
        for order in effects.dispatches:
            self._dispatches[order.idempotency_key] = order
            self._spawn(self._dispatch(order))
        for plan in effects.ladders:
            self._spawn(self._run_ladder(plan))
        for ack in effects.acknowledgements:
            ladder = ladder_with(self._state, ack.recipient_id)
            if ladder is not None:
                self._spawn(self._tell_ladder(ladder.ladder_id, ack))
        for ladder_id in effects.stop_ladders:
            self._spawn(self._tell_ladder(ladder_id, None))
        if effects.followup is not None:
            self._spawn(self._run_followup(effects.followup))
        if effects.cancel_followup:
            self._spawn(self._cancel_followup())

    def _spawn(self, effect: Coroutine[Any, Any, None], *, counted: bool = True) -> None:
        async def tracked() -> None:
            try:
                await effect
            finally:
                self._in_flight -= 1

        if counted:
            self._in_flight += 1
            asyncio.create_task(tracked())  # noqa: RUF006 (the workflow waits on _in_flight)
        else:
            asyncio.create_task(effect)  # noqa: RUF006 (lives as long as the run)

    async def _page(self, order: PageOrder) -> None:
        result = await page_staff(self._state.incident_id, self._state.program_id, order)
        self._pages.pop(order.page_id, None)
        self._record_page(order, result)

    def _record_page(self, order: PageOrder, result: PageResult) -> None:
        now = workflow.now()
        self._state.pages = [
            *self._state.pages[-(PAGES_KEPT - 1) :],
            PageRecord(
                page_id=order.page_id,
                reason=order.reason,
                target=order.target,
                at=now,
                recipients=result.recipients,
                channel=result.channel,
                delivered=result.delivered,
                reached_target=result.reached_target,
            ),
        ]
        unreachable = [
            UnreachableEntry(
                at=now,
                page_id=order.page_id,
                target=u.target,
                recipient_id=u.recipient_id,
                channel=u.channel,
                reason=u.reason,
            )
            for u in result.unreachable
        ]
        self._state.unreachable = [*self._state.unreachable, *unreachable][-UNREACHABLE_KEPT:]

    def page_supervisor(self, page_id: str, reason: str) -> None:
        """Something the workflow ordered could not be done: the on-call supervisor takes over."""
        self._order(
            Effects(
                pages=[
                    PageOrder(
                        page_id=page_id,
                        reason=reason,
                        target=PageTarget.ON_CALL_SUPERVISOR,
                        ordered_at=workflow.now(),
                    )
                ]
            )
        )

    async def _dispatch(self, order: DispatchOrder) -> None:
        try:
            await workflow.execute_activity_method(
                DispatchActivities.send_dispatch_packet,
                order,
                start_to_close_timeout=DISPATCH_TIMEOUT,
                schedule_to_close_timeout=DISPATCH_BUDGET,
                retry_policy=DISPATCH_RETRY,
            )
        except ActivityError as error:
            # The provider stayed down or refused: it shows on the incident; a person calls it.
            self._state.unreachable.append(
                UnreachableEntry(
                    at=workflow.now(),
                    page_id=f"dispatch-{order.dispatch_id}-{order.attempt}",
                    target="dispatch_provider",
                    reason=f"the dispatch packet was not delivered: {_reason(error)}",
                )
            )
            self.page_supervisor(
                f"dispatch-{order.dispatch_id}-{order.attempt}-undelivered",
                "the dispatch packet could not be delivered; call the provider",
            )
        finally:
            self._dispatches.pop(order.idempotency_key, None)

    async def _run_ladder(self, plan: LadderPlan) -> None:
        handle = await workflow.start_child_workflow(
            ContactLadderWorkflow.run,
            plan,
            id=ladder_workflow_id(plan.incident_id, plan.ladder_id),
            # A ladder outlives this run (continue-as-new) and reports back by signal; an
            # incident that ends stops it with a signal, so a message in delivery is kept.
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        self._spawn(self._await_ladder(plan, handle), counted=False)

    async def _await_ladder(
        self, plan: LadderPlan, handle: ChildWorkflowHandle[Any, LadderResult]
    ) -> None:
        try:
            await handle
        except ChildWorkflowError:
            # A ladder that failed reached nobody for sure: a person must take over.
            self._state = record_ladder_result(
                self._state,
                LadderResult(ladder_id=plan.ladder_id, status=LadderStatus.EXHAUSTED),
                workflow.now(),
            )
            self.page_supervisor(
                f"ladder-{plan.ladder_id}-failed",
                "a contact notification failed; reach the contacts by hand",
            )

    async def _tell_ladder(self, ladder_id: UUID, ack: Acknowledgement | None) -> None:
        ladder = workflow.get_external_workflow_handle_for(
            ContactLadderWorkflow.run, ladder_workflow_id(self._state.incident_id, ladder_id)
        )
        # A ladder that has finished cannot hear it; its result is recorded all the same.
        with contextlib.suppress(ApplicationError):
            if ack is not None:
                # Named, so the ladder can tell it is its own (SPEC 10.2).
                await ladder.signal(
                    ContactLadderWorkflow.acknowledge,
                    ack.model_copy(update={"ladder_id": ladder_id}),
                )
            elif workflow.patched(STOP_LADDER_PATCH):
                await ladder.signal(
                    ContactLadderWorkflow.stop_ladder, StopLadder(ladder_id=ladder_id)
                )
            else:
                await ladder.signal(ContactLadderWorkflow.stop)

    async def _run_followup(self, plan: FollowUpPlan) -> None:
        handle = await workflow.start_child_workflow(
            FollowUpWorkflow.run,
            plan,
            id=followup_workflow_id(plan.incident_id),
            # It outlives a close that keeps it, and this run; it reports back by signal.
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        self._state = settle(
            followup_started(self._state, workflow.now()), self._protocol, workflow.now()
        )
        self._spawn(self._await_followup(handle), counted=False)

    async def _await_followup(self, handle: ChildWorkflowHandle[Any, FollowUpResult]) -> None:
        try:
            await handle
        except ChildWorkflowError:
            self._state = followup_finished(self._state, workflow.now())
            self.page_supervisor(
                "followup-failed", "follow-up scheduling failed; arrange the check-ins by hand"
            )

    async def _cancel_followup(self) -> None:
        followup = workflow.get_external_workflow_handle_for(
            FollowUpWorkflow.run, followup_workflow_id(self._state.incident_id)
        )
        with contextlib.suppress(ApplicationError):  # it may have finished meanwhile
            await followup.signal(
                FollowUpWorkflow.cancel_all,
                CancelFollowUp(
                    reason=f"incident {self._state.stage}", incident_id=self._state.incident_id
                ),
            )

    # --- the case file: its own loop; a data error is shown, paged once, never blocks ------

    async def _keep_case_file(self) -> None:
        recheck: timedelta | None = None
        while True:
            if recheck is None:
                await workflow.wait_condition(
                    lambda: self._state.revision != self._attempted_revision
                )
            else:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._state.revision != self._attempted_revision, timeout=recheck
                    )
            if await self._project():
                recheck = None
            else:
                recheck = (
                    min(recheck * 2, PROJECTION_RECHECK[1]) if recheck else PROJECTION_RECHECK[0]
                )

    async def _project(self) -> bool:
        state = self._state
        decisions, audit = list(self._unprojected), list(self._audit)
        self._attempted_revision = state.revision
        try:
            await workflow.execute_activity_method(
                CasefileActivities.record_incident,
                # What changed: the decisions and audit events since the last write, and the
                # current state without its growing lists (they live in their own tables).
                IncidentProjection(
                    state=state.model_copy(update={"decisions": [], "pages": []}),
                    decisions=decisions,
                    audit=audit,
                ),
                start_to_close_timeout=PROJECTION_TIMEOUT,
                schedule_to_close_timeout=PROJECTION_BUDGET,
                retry_policy=PROJECTION_RETRY,
            )
        except ActivityError as error:
            first = self._state.projection_error is None
            self._state.projection_error = _reason(error)
            if first:
                self.page_supervisor(
                    f"projection-error-{state.revision}",
                    "the incident's case file could not be written; the incident carries on",
                )
            return False
        del self._unprojected[: len(decisions)]
        del self._audit[: len(audit)]
        self._projected_revision = state.revision
        self._state.projection_error = None
        return True

    def _case_file_settled(self) -> bool:
        return self._attempted_revision == self._state.revision and (
            self._projected_revision == self._state.revision
            or self._state.projection_error is not None
        )


def _reason(error: ActivityError) -> str:
    """A PHI-free reason: the failure's type, which our activities name."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    return type(cause).__name__ if cause is not None else "activity failed"
