"""The incident scenarios of the history recorder (tests/workflows/record_histories.py): per
recorded file name, the crisis type and the steps (a decision by a role, a time skipped, or a
Temporal cancel request)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.vocabulary import CrisisType, Role
from tests.helpers.programs import DemoProgram
from tests.workflows.scenarios import ASSESSMENTS, DEESCALATED, DISPATCH_911, disposition

CANCEL_REQUEST = "cancel request"
# Recorded on a worker whose SMS reaches the console (the others have no channel).
LADDER_STOPPED = "v2_family_ladder_delivered_then_stopped_by_close"
Steps = list[tuple[Role, dict[str, Any] | timedelta | str]]


def incident_scenarios(
    program: DemoProgram, context: dict[str, Any]
) -> dict[str, tuple[CrisisType, Steps]]:
    """`context` holds the sister's contact id (`sister`) the ladder scenarios notify."""
    close = (Role.SUPERVISOR, {"kind": "close", "reason": "Stable, follow-up booked"})
    return {
        "suicidal_paged_then_closed": (
            CrisisType.SUICIDAL_IDEATION,
            [
                (Role.CLINICIAN, timedelta(minutes=11)),
                (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                (Role.CLINICIAN, DEESCALATED),
                (Role.CLINICIAN, disposition(with_safety_plan=True)),
                close,
            ],
        ),
        "overdose_dispatched_then_closed": (
            CrisisType.OVERDOSE,
            [
                (Role.CLINICIAN, {**ASSESSMENTS[CrisisType.OVERDOSE]}),
                (Role.CLINICIAN, timedelta(minutes=2)),
                (Role.CLINICIAN, {**DISPATCH_911, "location": {"zip": "97201"}}),
                (Role.CLINICIAN, {"kind": "escalate", "reason": "Family on the line"}),
                (Role.CLINICIAN, disposition(with_safety_plan=False)),
                close,
            ],
        ),
        "psychosis_911_unconfirmed_paged_v2": (
            CrisisType.PSYCHOSIS,
            [
                (Role.CLINICIAN, {**ASSESSMENTS[CrisisType.PSYCHOSIS]}),
                (Role.CLINICIAN, {**DISPATCH_911, "location": {"zip": "97201"}}),
                (Role.CLINICIAN, timedelta(minutes=16)),
                (Role.CLINICIAN, disposition(with_safety_plan=False)),
                close,
            ],
        ),
        "suicidal_lost_contact_and_family_ladder_v2": (
            CrisisType.SUICIDAL_IDEATION,
            [
                (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                (Role.CLINICIAN, {"kind": "contact_lost", "channel": "video"}),
                (Role.CLINICIAN, timedelta(minutes=11)),
                (Role.CLINICIAN, {"kind": "contact_restored", "how": "She called back"}),
                (
                    Role.CLINICIAN,
                    {
                        "kind": "notify_contacts",
                        "contact_ids": [context["sister"]],
                        "basis": "serious_imminent_threat",
                        "justification": "Told us she is not safe tonight",
                    },
                ),
                (Role.CLINICIAN, timedelta(minutes=20)),
                close,
            ],
        ),
        "panic_cancelled": (
            CrisisType.PANIC,
            [(Role.CLINICIAN, {"kind": "cancel", "reason": "entered in error"})],
        ),
        # IncidentWorkflowV2: effects as tasks, alarms on the backoff, follow-up kept by a
        # close unless cancelled, continue-as-new carrying the state.
        "v2_overdose_dispatch_first_transported_then_closed": (
            CrisisType.OVERDOSE,
            [
                (Role.CLINICIAN, {**DISPATCH_911, "location": {"zip": "97201"}}),
                (Role.CLINICIAN, {**ASSESSMENTS[CrisisType.OVERDOSE]}),
                (Role.CLINICIAN, {"kind": "dispatch_update", "status": "transported"}),
                (Role.CLINICIAN, {"kind": "disposition", "outcome": "transported_er"}),
                (Role.CLINICIAN, timedelta(minutes=1)),
                (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
            ],
        ),
        "v2_family_ladder_reached_reassigned_cancelled_followup": (
            CrisisType.SUICIDAL_IDEATION,
            [
                (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                (
                    Role.CLINICIAN,
                    {
                        "kind": "notify_contacts",
                        "contact_ids": [context["sister"]],
                        "basis": "serious_imminent_threat",
                        "justification": "Told us she is not safe tonight",
                        "emergency_nature": "Plan disclosed",
                    },
                ),
                (
                    Role.CLINICIAN,
                    {"kind": "contact_reached", "contact_id": context["sister"], "how": "Call"},
                ),
                (Role.CLINICIAN, {"kind": "note", "text": "Sister on her way"}),
                (
                    Role.SUPERVISOR,
                    {
                        "kind": "reassign",
                        "owner_id": str(program.staff[Role.SUPERVISOR].id),
                        "reason": "Taking over",
                    },
                ),
                (Role.CLINICIAN, disposition(with_safety_plan=True)),
                (Role.CLINICIAN, timedelta(hours=30)),
                (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
            ],
        ),
        # Signed starts and signals, reclassify: an SOS-like `other` incident becomes a
        # withdrawal, its protocol applies from then on.
        "v2_signed_reclassified_to_withdrawal_then_closed": (
            CrisisType.OTHER,
            [
                (
                    Role.CLINICIAN,
                    {
                        "kind": "reclassify",
                        "crisis_type": "withdrawal",
                        "reason": "Shaking, sweating, last drink 20 hours ago",
                    },
                ),
                (Role.CLINICIAN, ASSESSMENTS[CrisisType.WITHDRAWAL]),
                (Role.CLINICIAN, DEESCALATED),
                (Role.CLINICIAN, disposition(with_safety_plan=True)),
                (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
            ],
        ),
        # A Temporal cancel request refused (paged, audited) while the family ladder runs
        # (it ends exhausted: no channel is configured here), then follow-up cancelled.
        "v2_signed_cancel_refused_ladder_exhausted_then_closed": (
            CrisisType.SUICIDAL_IDEATION,
            [
                (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                (
                    Role.CLINICIAN,
                    {
                        "kind": "notify_contacts",
                        "contact_ids": [context["sister"]],
                        "basis": "serious_imminent_threat",
                        "justification": "Told us she is not safe tonight",
                    },
                ),
                (Role.CLINICIAN, CANCEL_REQUEST),
                (Role.CLINICIAN, timedelta(minutes=1)),
                (Role.CLINICIAN, disposition(with_safety_plan=True)),
                (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
            ],
        ),
        # Unassessed for 20 days: the newest run starts from the state it carried.
        "v2_unassessed_continued_as_new_then_closed": (
            CrisisType.PANIC,
            [
                (Role.CLINICIAN, timedelta(days=20)),
                (Role.CLINICIAN, ASSESSMENTS[CrisisType.PANIC]),
                close,
            ],
        ),
        # The family ladder's SMS is delivered (to the console): it still waits for an
        # answer when the close stops it with `stop_ladder`.
        LADDER_STOPPED: (
            CrisisType.SUICIDAL_IDEATION,
            [
                (Role.CLINICIAN, ASSESSMENTS[CrisisType.SUICIDAL_IDEATION]),
                (
                    Role.CLINICIAN,
                    {
                        "kind": "notify_contacts",
                        "contact_ids": [context["sister"]],
                        "basis": "serious_imminent_threat",
                        "justification": "Told us she is not safe tonight",
                    },
                ),
                (Role.CLINICIAN, timedelta(minutes=1)),
                (Role.CLINICIAN, disposition(with_safety_plan=True)),
                (Role.SUPERVISOR, {**close[1], "cancel_followup": True}),
            ],
        ),
    }
