"""Follow-up after a disposition (a child workflow of the incident): one task per scheduled
contact, worked by the program's follow-up staff through Updates, on durable timers: at its due
time an unsettled task reminds its assignee (or the follow-up queue), after the grace period it
pages the on-call supervisor. Outcomes that need clinical work are signalled to the incident.
Every change to a task is projected to the database before the update answers."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.paging import page_staff

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.followup import FollowUpActivities
    from domain.audit import AuditEntry
    from domain.followup import (
        PARENT_FINISHED_SIGNAL,
        PARENT_NEEDS_CARE_SIGNAL,
        PARENT_WELFARE_CHECK_SIGNAL,
        AlarmKind,
        CancelFollowUp,
        ClaimTask,
        CompleteTask,
        FollowUpNeedsCare,
        FollowUpPlan,
        FollowUpResult,
        FollowUpWelfareCheck,
        TaskAlarm,
        TaskProjection,
        TaskRefusal,
        TaskState,
        cancel,
        claim,
        claim_refusal,
        complete,
        completion_refusal,
        due_alarms,
        initial_tasks,
        next_alarm_at,
        no_answer_streak,
        task_audit,
    )
    from domain.incident import PageOrder, PageTarget
    from domain.vocabulary import FollowUpOutcome

PROJECTION_TIMEOUT = timedelta(seconds=10)
REPORT_TO_INCIDENT_PATCH = "followup-reports-to-incident"
# A database outage is retried within a budget; a refused write (a data error) is not. Either
# way the tasks stay queued, a supervisor is paged once, and the write is tried again later.
PROJECTION_BUDGET = timedelta(minutes=10)
PROJECTION_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=["ProjectionDataError"]
)
PROJECTION_RECHECK = timedelta(minutes=5)
PAGES_AS_TASKS_PATCH = "followup-pages-as-tasks"
# A cancel counts only when it names this follow-up's incident (one copied from another
# incident's history does not).
CANCEL_NAMES_INCIDENT_PATCH = "followup-cancel-names-incident"


class TaskRefusedError(ApplicationError):
    """Raised by validators: the refusal travels as the error's details."""


@workflow.defn(name="FollowUpWorkflow")
class FollowUpWorkflow:
    @workflow.init
    def __init__(self, plan: FollowUpPlan) -> None:
        self._plan = plan
        self._tasks: dict[UUID, TaskState] = {t.task_id: t for t in initial_tasks(plan)}
        self._unprojected: set[UUID] = set(self._tasks)
        self._audit: list[AuditEntry] = []
        self._projecting = asyncio.Lock()
        # A page and the task it is about (None: about the follow-up as a whole).
        self._pages: list[tuple[UUID | None, PageOrder]] = []
        self._paging = 0
        self._to_parent: list[tuple[str, BaseModel]] = []
        self._needs_care: list[FollowUpNeedsCare] = []
        self._welfare_checks: list[FollowUpWelfareCheck] = []
        self._cancelled_reason: str | None = None
        self._recheck_projection_at: datetime | None = None
        self._projection_paged = False
        self._pages_as_tasks = False

    @workflow.run
    async def run(self, plan: FollowUpPlan) -> FollowUpResult:
        # A page runs as a task of its own, so one slow page never holds the next or the tasks.
        self._pages_as_tasks = workflow.patched(PAGES_AS_TASKS_PATCH)
        try:
            while True:
                await self._project()
                await self._send_pages()
                await self._tell_parent()
                if self._all_settled():
                    break
                await self._wait_for_work_or_alarm()
        except asyncio.CancelledError:
            # Cancelled without `cancel_all` (the incident ended abruptly): no task may stay
            # open in the queue with nobody behind it.
            self._cancel_open(CancelFollowUp(reason="the follow-up workflow was cancelled"))
            await self._project()
            raise
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self._paging == 0
        )
        await self._project()
        result = FollowUpResult(
            incident_id=plan.incident_id,
            tasks=self._ordered(),
            needs_care=self._needs_care,
            welfare_checks=self._welfare_checks,
            cancelled_reason=self._cancelled_reason,
        )
        if workflow.patched(REPORT_TO_INCIDENT_PATCH):
            self._to_parent.append((PARENT_FINISHED_SIGNAL, result))
        await self._tell_parent()
        return result

    @workflow.query
    def tasks(self) -> list[TaskState]:
        return self._ordered()

    @workflow.signal
    def cancel_all(self, request: CancelFollowUp) -> None:
        """The incident was closed: every open task is cancelled and the workflow ends."""
        if request.incident_id != self._plan.incident_id and workflow.patched(
            CANCEL_NAMES_INCIDENT_PATCH
        ):
            workflow.logger.warning("a follow-up cancel for another incident ignored")
            return
        self._cancel_open(request)

    # --- Updates: the validator refuses (nothing in history), the handler applies ------------

    @workflow.update
    async def claim_task(self, request: ClaimTask) -> TaskState:
        task = claim(self._tasks[request.task_id], request, workflow.now())
        self._store(task, actor_id=str(request.staff_id), actor_role=request.role)
        await self._project()
        return task

    @claim_task.validator
    def _validate_claim(self, request: ClaimTask) -> None:
        self._refuse(claim_refusal(self._tasks.get(request.task_id), request))

    @workflow.update
    async def complete_task(self, request: CompleteTask) -> TaskState:
        task = complete(self._tasks[request.task_id], request, workflow.now())
        self._store(task, actor_id=str(request.staff_id), actor_role=request.role)
        self._weigh_outcome(task)
        await self._project()
        return task

    @complete_task.validator
    def _validate_complete(self, request: CompleteTask) -> None:
        self._refuse(completion_refusal(self._tasks.get(request.task_id), request))

    def _refuse(self, why: TaskRefusal | None) -> None:
        if why is not None:
            raise TaskRefusedError(
                why.detail,
                why.model_dump(mode="json", exclude_none=True),
                type="DecisionRefused",
                non_retryable=True,
            )

    # --- state -----------------------------------------------------------------------------

    def _cancel_open(self, request: CancelFollowUp) -> None:
        now = workflow.now()
        for task in self._ordered():
            if not task.is_settled:
                self._store(
                    cancel(task, now), actor_id=request.actor_id, actor_role=request.actor_role
                )
        self._cancelled_reason = request.reason

    def _ordered(self) -> list[TaskState]:
        return sorted(self._tasks.values(), key=lambda t: t.sequence)

    def _store(self, task: TaskState, *, actor_id: str, actor_role: str) -> None:
        self._tasks[task.task_id] = task
        self._unprojected.add(task.task_id)
        self._audit.append(task_audit(task, actor_id=actor_id, actor_role=actor_role))

    def _all_settled(self) -> bool:
        return all(t.is_settled for t in self._tasks.values())

    def _has_work(self) -> bool:
        return (
            (bool(self._unprojected) and self._recheck_projection_at is None)
            or bool(self._pages)
            or bool(self._to_parent)
            or self._all_settled()
        )

    def _weigh_outcome(self, task: TaskState) -> None:
        """Outcomes that need clinical work go to the incident (never the worker's notes)."""
        if task.outcome is FollowUpOutcome.REACHED_NEEDS_CARE:
            needs_care = FollowUpNeedsCare(
                task_id=task.task_id,
                reason=f"follow-up {task.sequence} reached the client, who needs care",
                incident_id=self._plan.incident_id,
            )
            self._needs_care.append(needs_care)
            self._to_parent.append((PARENT_NEEDS_CARE_SIGNAL, needs_care))
        if task.outcome is not FollowUpOutcome.NO_ANSWER:
            return
        streak = no_answer_streak(list(self._tasks.values()))
        threshold = self._plan.welfare_check_after_no_answers
        # Each further run of `threshold` unanswered follow-ups asks again.
        if streak and len(streak) % threshold == 0:
            check = FollowUpWelfareCheck(
                task_ids=streak[-threshold:],
                reason=f"{threshold} follow-ups in a row went unanswered",
                incident_id=self._plan.incident_id,
            )
            self._welfare_checks.append(check)
            self._to_parent.append((PARENT_WELFARE_CHECK_SIGNAL, check))

    # --- timers ----------------------------------------------------------------------------

    async def _wait_for_work_or_alarm(self) -> None:
        due = next_alarm_at(list(self._tasks.values()), self._plan.grace)
        recheck = self._recheck_projection_at
        if recheck is not None and (due is None or recheck < due):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    self._has_work, timeout=max(recheck - workflow.now(), timedelta(0))
                )
            self._recheck_projection_at = None
            return
        if due is None:
            await workflow.wait_condition(self._has_work)
            return
        wait = due - workflow.now()
        if wait > timedelta(0):
            try:
                await workflow.wait_condition(self._has_work, timeout=wait)
                return
            except TimeoutError:
                pass
        self._sound_alarms()

    def _sound_alarms(self) -> None:
        tasks, alarms = due_alarms(self._ordered(), self._plan.grace, workflow.now())
        self._tasks = {t.task_id: t for t in tasks}
        self._pages.extend((alarm.task_id, self._page_for(alarm)) for alarm in alarms)

    def _page_for(self, alarm: TaskAlarm) -> PageOrder:
        # Reasons name the task, never the client: pages travel over plain channels.
        if alarm.kind is AlarmKind.REMINDER:
            return PageOrder(
                page_id=f"followup-{alarm.task_id}-reminder",
                reason=f"follow-up task {alarm.sequence} is due",
                target=PageTarget.STAFF if alarm.assignee_id else PageTarget.FOLLOWUP_QUEUE,
                staff_id=alarm.assignee_id,
                ordered_at=workflow.now(),
            )
        return PageOrder(
            page_id=f"followup-{alarm.task_id}-escalation",
            reason=(
                f"follow-up task {alarm.sequence} is still open "
                f"{self._plan.grace} after its due time"
            ),
            target=PageTarget.ON_CALL_SUPERVISOR,
            ordered_at=workflow.now(),
        )

    # --- effects ---------------------------------------------------------------------------

    async def _project(self) -> None:
        """Write the changed tasks; what changes meanwhile, or is not written because the
        workflow was cancelled mid-write, stays queued for the next round."""
        async with self._projecting:
            while self._unprojected:
                changed = sorted(
                    (self._tasks[i] for i in self._unprojected), key=lambda t: t.sequence
                )
                audit = list(self._audit)
                try:
                    await workflow.execute_activity_method(
                        FollowUpActivities.record_followup_tasks,
                        TaskProjection(
                            incident_id=self._plan.incident_id,
                            program_id=self._plan.program_id,
                            safety_plan=self._plan.safety_plan,
                            tasks=changed,
                            audit=audit,
                        ),
                        start_to_close_timeout=PROJECTION_TIMEOUT,
                        schedule_to_close_timeout=PROJECTION_BUDGET,
                        retry_policy=PROJECTION_RETRY,
                    )
                except ActivityError:
                    self._projection_failed()
                    return
                del self._audit[: len(audit)]
                for task in changed:
                    if self._tasks[task.task_id] is task:
                        self._unprojected.discard(task.task_id)

    def _projection_failed(self) -> None:
        """The tasks could not be written: they stay queued and are tried again in a while; the
        on-call supervisor hears of it once (the follow-up itself carries on)."""
        self._recheck_projection_at = workflow.now() + PROJECTION_RECHECK
        if self._projection_paged:
            return
        self._projection_paged = True
        self._pages.append(
            (
                None,
                PageOrder(
                    page_id=f"followup-{self._plan.incident_id}-projection-error",
                    reason="follow-up tasks could not be recorded; the queue may be out of date",
                    target=PageTarget.ON_CALL_SUPERVISOR,
                    ordered_at=workflow.now(),
                ),
            )
        )

    async def _send_pages(self) -> None:
        while self._pages:
            task_id, order = self._pages.pop(0)
            if task_id is not None and self._tasks[task_id].is_settled:
                continue  # settled while the page waited its turn: nobody needs reminding
            if self._pages_as_tasks:
                self._paging += 1
                asyncio.create_task(self._page(order))  # noqa: RUF006 (the run waits for _paging)
            else:
                await page_staff(self._plan.incident_id, self._plan.program_id, order)

    async def _page(self, order: PageOrder) -> None:
        try:
            await page_staff(self._plan.incident_id, self._plan.program_id, order)
        finally:
            self._paging -= 1

    async def _tell_parent(self) -> None:
        parent = workflow.info().parent
        while self._to_parent:
            name, payload = self._to_parent.pop(0)
            if parent is None:
                continue  # started on its own: the result records it
            # By workflow id alone: an incident that continued as new hears it in its new run.
            incident = workflow.get_external_workflow_handle(parent.workflow_id)
            # An incident that has already ended cannot hear it; the result records it.
            with contextlib.suppress(ApplicationError):
                await incident.signal(name, payload)
