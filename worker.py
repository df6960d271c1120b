"""The Temporal worker: registers every workflow and activity, nothing else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.worker import Worker

from activities.casefile import CasefileActivities
from activities.channels import (
    ConsoleChannel,
    DeliveryChannel,
    WebhookChannel,
    channels_from_settings,
)
from activities.dispatch import DispatchActivities
from activities.followup import FollowUpActivities
from activities.notify import NotifyActivities
from activities.oncall import OnCallActivities
from activities.paging import PagingActivities
from domain.vocabulary import Channel
from infra.ack_tokens import ack_key
from infra.audit_log import audit_key_for, use_audit_key
from infra.settings import Settings
from workflows.break_glass import BreakGlassPageWorkflow
from workflows.followup import FollowUpWorkflow
from workflows.incident import IncidentWorkflow
from workflows.incident_v1 import IncidentWorkflowV1
from workflows.notification import ContactLadderWorkflow
from workflows.oncall import OnCallHandoffWorkflow

# IncidentWorkflowV1 finishes the incidents opened before effects ran independently.
WORKFLOWS = [
    IncidentWorkflow,
    IncidentWorkflowV1,
    ContactLadderWorkflow,
    FollowUpWorkflow,
    BreakGlassPageWorkflow,
    OnCallHandoffWorkflow,
]


def build_worker(
    client: Client,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    channels: dict[Channel, DeliveryChannel] | None = None,
    console_fallback: bool = False,
) -> Worker:
    """A worker on the settings' task queue; tests pass channels that point at local fakes.
    The embedded stack asks for `console_fallback`: a contact channel without settings is
    delivered to the console instead of being skipped."""
    channels = channels if channels is not None else channels_from_settings(settings)
    if console_fallback:
        for missing in {Channel.SMS, Channel.VOICE, Channel.EMAIL} - set(channels):
            channels[missing] = ConsoleChannel()
    use_audit_key(audit_key_for(settings))  # the activities append to the keyed chain
    casefile = CasefileActivities(sessions)
    followup = FollowUpActivities(sessions)
    paging = PagingActivities(sessions, channels)
    oncall = OnCallActivities(sessions)
    dispatch = DispatchActivities(
        sessions,
        WebhookChannel(url=settings.dispatch_webhook_url, secret=settings.webhook_secret)
        if settings.dispatch_webhook_url and settings.webhook_secret
        else None,
    )
    notify = NotifyActivities(
        sessions,
        channels,
        public_url=settings.public_url,
        ack_secret=ack_key(settings),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[
            casefile.record_incident,
            followup.record_followup_tasks,
            paging.page_staff,
            oncall.check_handoff,
            notify.send_message,
            dispatch.send_dispatch_packet,
        ],
        # Lets in-flight activities finish inside the orchestrator's stop grace period.
        graceful_shutdown_timeout=timedelta(seconds=50),
    )
