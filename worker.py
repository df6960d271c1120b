"""The Temporal worker: registers every workflow and activity, nothing else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.worker import Worker

from activities.casefile import CasefileActivities
from activities.channels import ConsoleChannel, DeliveryChannel
from activities.paging import PagingActivities
from workflows.incident import IncidentWorkflow

WORKFLOWS = [IncidentWorkflow]


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    paging_channel: DeliveryChannel | None = None,
) -> Worker:
    casefile = CasefileActivities(sessions)
    paging = PagingActivities(sessions, paging_channel or ConsoleChannel())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[casefile.record_incident, paging.page_staff],
        # Lets in-flight activities finish inside the orchestrator's stop grace period.
        graceful_shutdown_timeout=timedelta(seconds=50),
    )
