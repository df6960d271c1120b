"""The one way a workflow pages staff: the `page_staff` activity, bounded, and never raising.

The activity falls back by itself (channels, recipients, targets, last the console) and never
waits on a failing provider; what is retried here is the activity when the database or a worker
fails it, within a budget. Past the budget the page ends undelivered with its reason on it, so no
caller waits forever and none sees an exception.
Workflow code only (no I/O here); imported by the incident, ladder and follow-up workflows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.paging import PagingActivities
    from domain.effects import NO_TARGET, PageRequest, PageResult, Unreachable
    from domain.incident import PageOrder

PAGE_TIMEOUT = timedelta(seconds=60)
# A database outage can hold the activity; past this budget the page ends undelivered.
PAGE_BUDGET = timedelta(minutes=10)
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


async def page_staff(
    incident_id: UUID,
    program_id: UUID,
    order: PageOrder,
    about: Literal["incident", "handoff"] = "incident",
) -> PageResult:
    """Page the order's target; a page that cannot be sent within the budget is answered as
    undelivered, with the reason in `unreachable`. An on-call handoff's page is `about` no one
    incident: `incident_id` is then its rotation's id."""
    try:
        return await workflow.execute_activity_method(
            PagingActivities.page_staff,
            PageRequest(incident_id=incident_id, program_id=program_id, order=order, about=about),
            start_to_close_timeout=PAGE_TIMEOUT,
            schedule_to_close_timeout=PAGE_BUDGET,
            retry_policy=PAGE_RETRY,
        )
    except ActivityError as error:
        reason = f"paging failed: {_failure_kind(error)}"
        return PageResult(
            recipients=[],
            channel="none",
            delivered=False,
            unreachable=[Unreachable(target=order.target.value, reason=reason)],
            reached_target=NO_TARGET,
        )


def _failure_kind(error: ActivityError) -> str:
    """What kind of failure ended the activity, never its message: a database error can quote
    the values it was given."""
    cause = error.cause
    if isinstance(cause, ActivityTimeout):
        return f"timed out ({cause.type.name.lower() if cause.type else 'unknown'})"
    kind = cause.type if isinstance(cause, ApplicationError) else None
    kind = kind or type(cause).__name__
    if error.retry_state is RetryState.TIMEOUT:
        return f"{kind}, retried until its time budget ran out"
    return kind
