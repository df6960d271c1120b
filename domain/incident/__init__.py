"""The incident: its state as plain data (`state`), the state machine (`machine`), the protocol's
timers (`alarms`) and the rules decision kinds share (`rules`). Importing the package gives the
data; the rules are imported from their modules."""

from domain.incident.state import (
    PAGES_KEPT,
    UNREACHABLE_KEPT,
    Actor,
    Alarm,
    AlarmName,
    AssessmentSummary,
    DecisionEntry,
    DispatchState,
    Effects,
    IncidentCarry,
    IncidentOpening,
    IncidentState,
    LadderSummary,
    PageOrder,
    PageRecord,
    PageTarget,
    Refusal,
    SosPress,
    UnreachableEntry,
    workflow_id_for,
)

__all__ = [
    "PAGES_KEPT",
    "UNREACHABLE_KEPT",
    "Actor",
    "Alarm",
    "AlarmName",
    "AssessmentSummary",
    "DecisionEntry",
    "DispatchState",
    "Effects",
    "IncidentCarry",
    "IncidentOpening",
    "IncidentState",
    "LadderSummary",
    "PageOrder",
    "PageRecord",
    "PageTarget",
    "Refusal",
    "SosPress",
    "UnreachableEntry",
    "workflow_id_for",
]
