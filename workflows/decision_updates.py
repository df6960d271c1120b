"""The incident workflow's decision Updates, one per decision kind, made from one definition.

Every kind's validator refuses through `check_decision` and its handler applies through
`make_decision`, so a kind is an Update by being listed, and cannot differ from the others in
how it is refused or recorded. The workflow class lists one line per kind; the registry test
checks that no kind is missing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.decisions import DecisionRequest
    from domain.incident import IncidentState
    from domain.incident.machine import refusal
    from domain.protocols.base import CrisisProtocol
    from domain.vocabulary import DecisionKind


class DecisionRefusedError(ApplicationError):
    """Raised by validators: the refusal travels as the error's details."""


def refuse_unless_allowed(
    state: IncidentState,
    protocol: CrisisProtocol,
    kind: DecisionKind,
    request: DecisionRequest,
    now: datetime,
) -> None:
    """Raise the refusal of this decision (nothing reaches history), or return: it may be made."""
    if request.decision.kind != kind:
        raise DecisionRefusedError(
            f"the {kind} update was sent a {request.decision.kind} decision",
            {"status": 422, "code": "invalid", "detail": "kind mismatch", "field": "kind"},
            type="DecisionRefused",
            non_retryable=True,
        )
    why = refusal(state, protocol, request, now)
    if why is not None:
        raise DecisionRefusedError(
            why.detail, why.model_dump(mode="json"), type="DecisionRefused", non_retryable=True
        )


class DecidingWorkflow(Protocol):
    def check_decision(self, kind: DecisionKind, request: DecisionRequest) -> None: ...

    def make_decision(self, request: DecisionRequest) -> IncidentState: ...


DecisionUpdate = workflow.UpdateMethodMultiParam[[Any, DecisionRequest], IncidentState]


def decision_update(kind: DecisionKind) -> DecisionUpdate:
    """The Update named after `kind`, with its validator."""

    # `self` stays unannotated: the SDK reads every annotated parameter as an argument.
    def handler(self, request: DecisionRequest) -> IncidentState:  # type: ignore[no-untyped-def]
        workflow_: DecidingWorkflow = self
        return workflow_.make_decision(request)

    def validator(self, request: DecisionRequest) -> None:  # type: ignore[no-untyped-def]
        workflow_: DecidingWorkflow = self
        workflow_.check_decision(kind, request)

    handler.__name__ = handler.__qualname__ = kind.value
    update: DecisionUpdate = workflow.update(name=kind.value)(handler)
    update.validator(validator)
    return update
