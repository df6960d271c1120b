"""The contact ladder as data: who is tried in which order, on which channels, and how long to
wait for an acknowledgement. The policy is frozen into the ladder when it starts."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.signed import SignedMessage
from domain.vocabulary import Channel


class LadderPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    ack_window: timedelta = timedelta(minutes=5)
    # A send is retried with backoff for this long, then the ladder moves to the next channel:
    # a provider that stays down never holds a notification. A time, not a count of tries, so
    # our own outages (a worker killed, the database restarting) do not use up a provider's
    # chances: found by the drills, where a killed worker left contacts unreached.
    send_within: timedelta = timedelta(minutes=2)
    retry_initial: timedelta = timedelta(seconds=2)
    retry_max: timedelta = timedelta(seconds=30)
    # Rate limit per recipient: never two messages to the same person closer than this.
    min_interval_per_recipient: timedelta = timedelta(seconds=60)
    ack_link_valid_for: timedelta = timedelta(hours=24)


class RecipientType(StrEnum):
    CONTACT = "contact"
    CLIENT = "client"


class LadderRecipient(BaseModel):
    model_config = ConfigDict(frozen=True)

    recipient_type: RecipientType
    recipient_id: UUID
    channels: tuple[Channel, ...]
    # The consents the disclosure to this recipient rests on: re-read before each message.
    consent_ids: tuple[UUID, ...] = ()


class LadderPurpose(StrEnum):
    EMERGENCY_CONTACT = "emergency_contact"
    LOST_CONTACT = "lost_contact"


class LadderPlan(SignedMessage):
    """The child workflow's input: recipients in the order they are tried."""

    ladder_id: UUID
    incident_id: UUID
    program_id: UUID
    purpose: LadderPurpose
    recipients: list[LadderRecipient]
    policy: LadderPolicy


class Acknowledgement(SignedMessage):
    """A recipient acknowledged: by the signed link, an SMS reply, or a clinician's record."""

    ladder_id: UUID | None = None
    recipient_id: UUID
    via: str
    at: datetime | None = None


class AttemptOutcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    # Not sent, and nothing more to this recipient: the consent it rested on is revoked.
    STOPPED = "stopped"


class LadderStatus(StrEnum):
    RUNNING = "running"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"
    STOPPED = "stopped"


class LadderAttempt(BaseModel):
    recipient_id: UUID
    channel: Channel
    outcome: AttemptOutcome
    at: datetime
    reason: str | None = None


class LadderResult(SignedMessage):
    ladder_id: UUID
    status: LadderStatus
    acknowledged_by: UUID | None = None
    acknowledged_via: str | None = None
    attempts: list[LadderAttempt] = Field(default_factory=list)


class SendRequest(BaseModel):
    """One message to one recipient on one channel; the key makes a retry never send twice."""

    incident_id: UUID
    program_id: UUID
    ladder_id: UUID
    purpose: LadderPurpose
    recipient_type: RecipientType
    recipient_id: UUID
    channel: Channel
    ack_expires_at: datetime
    # The consents the disclosure rests on (none: it rests on no consent).
    consent_ids: tuple[UUID, ...] = ()

    @property
    def idempotency_key(self) -> str:
        return (
            f"{self.purpose}:{self.incident_id}:{self.ladder_id}:{self.recipient_id}:{self.channel}"
        )


def acknowledgement_for(idempotency_key: str, via: str, at: datetime) -> Acknowledgement:
    """The acknowledgement of the message sent under this key (see `SendRequest`)."""
    _, _, ladder_id, recipient_id, _ = idempotency_key.split(":")
    return Acknowledgement(
        ladder_id=UUID(ladder_id), recipient_id=UUID(recipient_id), via=via, at=at
    )


# Why a recipient's rung was stopped: the consent its disclosure rested on is no longer current.
CONSENT_REVOKED = "consent_revoked"


class SendResult(BaseModel):
    outcome: AttemptOutcome
    notification_id: UUID | None = None
    reason: str | None = None


# The incident's signal a ladder sends when it ends (named here: the two workflows import this).
LADDER_FINISHED_SIGNAL = "ladder_finished"


class StopLadder(SignedMessage):
    """The incident no longer needs this ladder (contact restored, incident closed)."""

    ladder_id: UUID


def ladder_workflow_id(incident_id: UUID, ladder_id: UUID) -> str:
    return f"incident-{incident_id}-ladder-{ladder_id}"
