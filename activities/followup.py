"""Follow-up task projection: the follow-up workflow's tasks written to the database,
idempotently, with the audit events of their changes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.write_errors import classified_write_errors
from domain.followup import TaskProjection
from domain.models import FollowUpTask
from infra.audit_log import append_in
from infra.db import transaction


class FollowUpActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_followup_tasks")
    async def record_followup_tasks(self, projection: TaskProjection) -> int:
        """Insert or update each task's row by its id, append the audit events; returns how
        many task rows it wrote.

        Retried writes are harmless: rows are keyed by the workflow's task ids, audit events by
        their keys, and a task state older than the stored one never overwrites it.
        """
        async with (
            classified_write_errors("follow-up tasks"),
            transaction(self._sessions) as session,
        ):
            return await self._write(session, projection)

    async def _write(self, session: AsyncSession, projection: TaskProjection) -> int:
        changed = 0
        for task in projection.tasks:
            row = await session.get(FollowUpTask, task.task_id)
            if row is None:
                session.add(
                    FollowUpTask(
                        id=task.task_id,
                        incident_id=projection.incident_id,
                        program_id=projection.program_id,
                        sequence=task.sequence,
                        due_at=task.due_at,
                        status=task.status,
                        assignee_id=task.assignee_id,
                        outcome=task.outcome,
                        notes=task.notes,
                        safety_plan=projection.safety_plan,
                        created_at=task.created_at,
                        updated_at=task.updated_at,
                    )
                )
                changed += 1
            elif row.updated_at <= task.updated_at:
                row.status = task.status
                row.assignee_id = task.assignee_id
                row.outcome = task.outcome
                row.notes = task.notes
                row.updated_at = task.updated_at
                changed += 1
        await session.flush()
        for entry in projection.audit:
            await append_in(session, entry)
        return changed
