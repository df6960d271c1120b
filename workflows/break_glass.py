"""BreakGlassPageWorkflow: pages the owning program's supervisors that a supervisor of another
program opened one of its incidents by break-glass (SPEC 10.2).

A workflow of its own rather than a signal to the incident: a closed incident's workflow has
ended and cannot take a signal, yet its supervisors must still be told; and the incident's
recorded histories stay as they are. The page goes through the one `page_staff` path (fallbacks,
at most once per channel, recorded on the incident's deliveries and audited).
"""

from __future__ import annotations

from temporalio import workflow

from workflows.paging import page_staff

with workflow.unsafe.imports_passed_through():
    from domain.effects import PageRequest, PageResult


@workflow.defn
class BreakGlassPageWorkflow:
    @workflow.run
    async def run(self, request: PageRequest) -> PageResult:
        return await page_staff(request.incident_id, request.program_id, request.order)


def break_glass_workflow_id(grant_id: str) -> str:
    return f"break-glass-{grant_id}"
