"""The one way a workflow pages staff: the `page_staff` activity with its timeout and retry.

Pages retry forever with a capped backoff: a provider outage delays a page, never drops it.
Workflow code only (no I/O here); imported by the incident, ladder and follow-up workflows.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.effects import PageRequest, PageResult
    from domain.incident import PageOrder

PAGE_TIMEOUT = timedelta(seconds=60)
PAGE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


async def page_staff(incident_id: UUID, program_id: UUID, order: PageOrder) -> PageResult:
    result: PageResult = await workflow.execute_activity(
        "page_staff",
        PageRequest(incident_id=incident_id, program_id=program_id, order=order),
        result_type=PageResult,
        start_to_close_timeout=PAGE_TIMEOUT,
        retry_policy=PAGE_RETRY,
    )
    return result
