"""OnCallHandoffWorkflow: one per rotation, it pages the incoming person at each handoff (SPEC
10.4) with the program's open incidents they now cover.

Loop: ask the schedule (an activity) who is on call at the instant and when the next handoff
is; page the incoming person when it changed hands; sleep until that handoff, or until an
override is made (the `schedule_changed` signal), then look again. The first check of a
rotation created at or after its first handoff pages the person on call from then on (nobody
told them); one whose first handoff is still to come pages at that handoff. Each page is keyed
by the rotation and the instant checked, so a retried activity or a replayed workflow pages at
most once. The watch ends when a newer rotation of the role takes over (that rotation's own watch
covers the role from then on), and continues as new every `HANDOFFS_PER_RUN` checks.
Workflow code only: no I/O, no clock but `workflow.now()`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.paging import page_staff

with workflow.unsafe.imports_passed_through():
    from activities.oncall import OnCallActivities
    from domain.incident import PageOrder, PageTarget
    from domain.oncall import HANDOFF_HORIZON
    from domain.oncall_watch import HandoffCheck, HandoffCheckResult, HandoffWatch, ScheduleChanged

HANDOFFS_PER_RUN = 100
CHECK_TIMEOUT = timedelta(seconds=30)
# A database outage is retried within this budget; past it the watch looks again later.
CHECK_BUDGET = timedelta(minutes=10)
CHECK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
RECHECK_AFTER = timedelta(minutes=5)
NEVER_WRITTEN = timedelta(days=1)
# The page lists at most this many incident ids; the rest are counted.
LISTED_INCIDENTS = 20


@workflow.defn(name="OnCallHandoffWorkflow")
class OnCallHandoffWorkflow:
    @workflow.init
    def __init__(self, watch: HandoffWatch) -> None:
        self._changed = False

    @workflow.signal
    def schedule_changed(self, change: ScheduleChanged) -> None:
        self._changed = True

    @workflow.run
    async def run(self, watch: HandoffWatch) -> None:
        at = watch.at or workflow.now()
        on_call, checked = watch.on_call, watch.checked
        began = workflow.now()
        for _ in range(HANDOFFS_PER_RUN):
            self._changed = False
            check = await self._check(watch, at)
            if check is None and not checked and workflow.now() - began >= NEVER_WRITTEN:
                # Unread for a day from the start: the API never wrote the rotation (it failed
                # after starting the watch). Any shorter outage is looked at again, never lost.
                workflow.logger.warning("handoff watch ends: its rotation was never read")
                return
            if check is not None:
                if check.superseded:
                    return
                if _tells(check, on_call, checked):
                    await self._page(watch, at, check)
                on_call, checked = check.on_call, True
            wake = self._wake_at(check)
            at = wake if await self._sleep_until(wake) else workflow.now()
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            watch.model_copy(update={"at": at, "on_call": on_call, "checked": checked})
        )

    async def _check(self, watch: HandoffWatch, at: datetime) -> HandoffCheckResult | None:
        """The schedule at `at`; None when it could not be read within the budget (the watch
        looks again `RECHECK_AFTER` later)."""
        try:
            return await workflow.execute_activity_method(
                OnCallActivities.check_handoff,
                HandoffCheck(
                    rotation_id=watch.rotation_id,
                    program_id=watch.program_id,
                    role=watch.role,
                    at=at,
                ),
                start_to_close_timeout=CHECK_TIMEOUT,
                schedule_to_close_timeout=CHECK_BUDGET,
                retry_policy=CHECK_RETRY,
            )
        except ActivityError as error:
            cause = error.cause
            kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
            workflow.logger.warning("handoff check failed: %s", kind)
            return None

    def _wake_at(self, check: HandoffCheckResult | None) -> datetime:
        now = workflow.now()
        if check is None:
            return now + RECHECK_AFTER
        return check.next_at or now + HANDOFF_HORIZON

    async def _sleep_until(self, wake: datetime) -> bool:
        """Sleep until `wake`; True when it came, False when the schedule changed first."""
        remaining = wake - workflow.now()
        if remaining <= timedelta(0) or self._changed:
            return not self._changed
        try:
            await workflow.wait_condition(lambda: self._changed, timeout=remaining)
        except TimeoutError:
            return True
        return False

    async def _page(self, watch: HandoffWatch, at: datetime, check: HandoffCheckResult) -> None:
        incidents = check.open_incidents
        listed = ", ".join(str(i) for i in incidents[:LISTED_INCIDENTS])
        more = len(incidents) - LISTED_INCIDENTS
        covered = f"{len(incidents)} open incidents" + (f": {listed}" if incidents else "")
        covered += f" and {more} more" if more > 0 else ""
        order = PageOrder(
            page_id=f"handoff:{at.isoformat()}",
            reason=f"on-call handoff: you are now the on-call {watch.role}; {covered}",
            target=PageTarget.STAFF,
            staff_id=check.on_call,
            ordered_at=at,
        )
        await page_staff(watch.rotation_id, watch.program_id, order, about="handoff")


def _tells(check: HandoffCheckResult, on_call: UUID | None, checked: bool) -> bool:
    """Whether the person on call at this check is paged: they came in since the last check,
    or (the watch's first check) the new rotation puts them on call from its creation."""
    if check.on_call is None:
        return False
    return check.on_call != on_call if checked else check.started
