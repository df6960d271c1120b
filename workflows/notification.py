"""The contact ladder (a child workflow of the incident): each recipient in order, each of
their channels in order; wait for an acknowledgement; on silence or failure the next channel,
then the next recipient; after the last, page the supervisor. A failed provider never silently
drops a notification: it ends in an acknowledgement or a page."""

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
    from activities.notify import NotifyActivities
    from domain.incident import PageOrder, PageTarget
    from domain.notification import (
        LADDER_FINISHED_SIGNAL,
        Acknowledgement,
        AttemptOutcome,
        LadderAttempt,
        LadderPlan,
        LadderPurpose,
        LadderRecipient,
        LadderResult,
        LadderStatus,
        SendRequest,
        StopLadder,
    )
    from domain.vocabulary import Channel

SEND_TIMEOUT = timedelta(seconds=30)
REPORT_TO_INCIDENT_PATCH = "ladder-reports-to-incident"
# A recipient whose consent was revoked gets nothing more: the ladder moves to the next one.
CONSENT_STOPS_RECIPIENT_PATCH = "ladder-consent-stops-recipient"
# The send activity heartbeats every second: a worker killed mid-send is noticed this fast.
SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# Only `stop_ladder` naming this ladder stops it; the bare `stop` of older incidents is ignored.
STOP_NEEDS_PAYLOAD_PATCH = "ladder-stop-needs-payload"
# An acknowledgement counts only for this ladder and one of its recipients.
ACK_MUST_MATCH_PATCH = "ladder-ack-must-match"
# A Temporal cancel request does not silence the ladder: supervisors are paged, it climbs on.
OUTLIVES_CANCEL_PATCH = "ladder-outlives-cancel"

_EXHAUSTED_REASONS = {
    LadderPurpose.EMERGENCY_CONTACT: "no emergency contact acknowledged",
    LadderPurpose.LOST_CONTACT: "the client could not be reached after contact was lost",
}


@workflow.defn(name="ContactLadderWorkflow")
class ContactLadderWorkflow:
    @workflow.init
    def __init__(self, plan: LadderPlan) -> None:
        self._plan = plan
        self._ack: Acknowledgement | None = None
        self._stopped = False
        self._attempts: list[LadderAttempt] = []
        self._last_sent: dict[UUID, datetime] = {}

    @workflow.run
    async def run(self, plan: LadderPlan) -> LadderResult:
        if workflow.patched(OUTLIVES_CANCEL_PATCH):
            result = await self._climb_whatever_is_cancelled(plan)
        else:
            result = await self._climb(plan)
        if workflow.patched(REPORT_TO_INCIDENT_PATCH):
            await self._report(result)
        return result

    async def _climb(self, plan: LadderPlan) -> LadderResult:
        for recipient in plan.recipients:
            for channel in recipient.channels:
                if self._done():
                    return self._result()
                await self._respect_rate_limit(recipient)
                sent = await self._send(recipient, channel)
                if sent:
                    await self._wait_until_done(plan.policy.ack_window)
                elif self._consent_ended(recipient) and workflow.patched(
                    CONSENT_STOPS_RECIPIENT_PATCH
                ):
                    break
        if self._done():
            return self._result()
        await self._page_supervisor()
        return self._result(LadderStatus.EXHAUSTED)

    async def _climb_whatever_is_cancelled(self, plan: LadderPlan) -> LadderResult:
        """Nothing in CrisisDesk cancels a ladder: a cancel request comes from someone at
        Temporal itself, so every supervisor hears of it and the ladder carries on."""
        climbing = asyncio.create_task(self._climb(plan))
        while True:
            try:
                return await asyncio.shield(climbing)
            except asyncio.CancelledError:
                if climbing.cancelled():
                    raise
                workflow.logger.warning("a cancel request for a contact ladder was refused")
                await self._page(
                    "cancel-refused",
                    "someone asked Temporal to cancel a contact ladder; it carries on",
                    PageTarget.ALL_SUPERVISORS,
                )

    async def _report(self, result: LadderResult) -> None:
        """Tell the incident by its workflow id, so a run it continued as new hears it too."""
        parent = workflow.info().parent
        if parent is None:
            return
        incident = workflow.get_external_workflow_handle(parent.workflow_id)
        with contextlib.suppress(ApplicationError):  # an incident that ended cannot hear it
            await incident.signal(LADDER_FINISHED_SIGNAL, result)

    @workflow.signal
    def acknowledge(self, ack: Acknowledgement) -> None:
        recipients = {r.recipient_id for r in self._plan.recipients}
        # No ladder named: a V1 incident's forward, found by its recipient.
        named = ack.ladder_id in (None, self._plan.ladder_id)
        if not (named and ack.recipient_id in recipients) and workflow.patched(
            ACK_MUST_MATCH_PATCH
        ):
            workflow.logger.warning("an acknowledgement for another ladder or recipient ignored")
            return
        if self._ack is None:
            self._ack = ack

    @workflow.signal
    def stop_ladder(self, request: StopLadder) -> None:
        """The incident no longer needs this ladder (contact restored, incident closed)."""
        if request.ladder_id != self._plan.ladder_id:
            workflow.logger.warning("a stop for another ladder ignored")
            return
        self._stopped = True

    @workflow.signal
    def stop(self) -> None:
        """The V1 incident's stop, which names no ladder: it counts only in histories recorded
        before `stop_ladder` (anybody at Temporal could send it, with nothing to refuse)."""
        if workflow.patched(STOP_NEEDS_PAYLOAD_PATCH):
            workflow.logger.warning("a stop without a payload ignored")
            return
        self._stopped = True

    @workflow.query
    def attempts(self) -> list[LadderAttempt]:
        return self._attempts

    def _consent_ended(self, recipient: LadderRecipient) -> bool:
        """The last rung to this recipient was stopped: its consent is no longer current."""
        last = self._attempts[-1] if self._attempts else None
        return (
            last is not None
            and last.recipient_id == recipient.recipient_id
            and last.outcome is AttemptOutcome.STOPPED
        )

    def _done(self) -> bool:
        return self._ack is not None or self._stopped

    def _result(self, status: LadderStatus | None = None) -> LadderResult:
        if status is None:
            status = LadderStatus.ACKNOWLEDGED if self._ack else LadderStatus.STOPPED
        return LadderResult(
            ladder_id=self._plan.ladder_id,
            status=status,
            acknowledged_by=self._ack.recipient_id if self._ack else None,
            acknowledged_via=self._ack.via if self._ack else None,
            attempts=self._attempts,
        )

    async def _respect_rate_limit(self, recipient: LadderRecipient) -> None:
        last = self._last_sent.get(recipient.recipient_id)
        if last is None:
            return
        wait = last + self._plan.policy.min_interval_per_recipient - workflow.now()
        if wait > timedelta(0):
            await self._wait_until_done(wait)

    async def _wait_until_done(self, at_most: timedelta) -> None:
        """Wait for an acknowledgement (or a stop), at most `at_most`."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(self._done, timeout=at_most)

    async def _send(self, recipient: LadderRecipient, channel: Channel) -> bool:
        plan, policy = self._plan, self._plan.policy
        request = SendRequest(
            incident_id=plan.incident_id,
            program_id=plan.program_id,
            ladder_id=plan.ladder_id,
            purpose=plan.purpose,
            recipient_type=recipient.recipient_type,
            recipient_id=recipient.recipient_id,
            channel=channel,
            ack_expires_at=workflow.now() + policy.ack_link_valid_for,
            consent_ids=recipient.consent_ids,
        )
        try:
            result = await workflow.execute_activity_method(
                NotifyActivities.send_message,
                request,
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=policy.send_within,
                heartbeat_timeout=SEND_HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=policy.retry_initial,
                    maximum_interval=policy.retry_max,
                    non_retryable_error_types=["PermanentDeliveryError", "UnknownDeliveryOutcome"],
                ),
            )
        except ActivityError as error:
            cause = error.cause
            reason = str(cause.message if cause and hasattr(cause, "message") else error)
            self._record(recipient, channel, AttemptOutcome.FAILED, reason)
            return False
        self._record(recipient, channel, result.outcome, result.reason)
        if result.outcome is AttemptOutcome.SENT:
            self._last_sent[recipient.recipient_id] = workflow.now()
            return True
        return False

    def _record(
        self,
        recipient: LadderRecipient,
        channel: Channel,
        outcome: AttemptOutcome,
        reason: str | None,
    ) -> None:
        self._attempts.append(
            LadderAttempt(
                recipient_id=recipient.recipient_id,
                channel=channel,
                outcome=outcome,
                at=workflow.now(),
                reason=reason,
            )
        )

    async def _page_supervisor(self) -> None:
        await self._page(
            "exhausted", _EXHAUSTED_REASONS[self._plan.purpose], PageTarget.ON_CALL_SUPERVISOR
        )

    async def _page(self, what: str, reason: str, target: PageTarget) -> None:
        await page_staff(
            self._plan.incident_id,
            self._plan.program_id,
            PageOrder(
                page_id=f"ladder-{self._plan.ladder_id}-{what}",
                reason=reason,
                target=target,
                ordered_at=workflow.now(),
            ),
        )
