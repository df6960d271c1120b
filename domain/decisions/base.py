"""What every decision kind is made of, and the two views a kind's rules get of an incident.

A kind is one module: its body (what the API parses), the roles that may record it, `refuse`
(why it cannot be made now, or None) and `apply` (what it changes and orders). The registry in
`domain.decisions` collects them; the workflow and the API are made from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from pydantic import ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from domain.incident.state import Effects, IncidentState, Refusal
from domain.models.text import NulFreeText
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import DecisionKind, Role

if TYPE_CHECKING:
    from domain.decisions import DecisionRequest

Text = Annotated[str, Field(min_length=1, max_length=4000)]
Reason = Annotated[str, Field(min_length=3, max_length=2000)]
ClinicalNotes = Annotated[str | None, Field(default=None, max_length=4000)]

CLINICAL = frozenset({Role.CLINICIAN, Role.SUPERVISOR})
SUPERVISORS = frozenset({Role.SUPERVISOR})

# What a clinician writes on a decision: kept with it, shown to clinical roles only.
DOCUMENTATION_FIELDS = ("notes", "justification", "text", "reason", "how", "emergency_nature")


class DecisionBody(NulFreeText):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # `kind` has its value as a default, but the body is told apart by it: always sent.
        schema = super().__get_pydantic_json_schema__(core_schema, handler)
        shape = handler.resolve_ref_schema(schema)
        shape["required"] = ["kind", *(n for n in shape.get("required", []) if n != "kind")]
        return schema

    def documentation(self) -> dict[str, str]:
        """The clinician's own words on this decision (NPSG 15.01.01 and the record)."""
        return {
            name: value
            for name in DOCUMENTATION_FIELDS
            if isinstance(value := getattr(self, name, None), str) and value
        }


B = TypeVar("B", bound=DecisionBody)


@dataclass(frozen=True)
class Verdict(Generic[B]):
    """What a kind's `refuse` sees: the incident as it is, and the decision asked for."""

    state: IncidentState
    protocol: CrisisProtocol
    request: DecisionRequest
    decision: B
    now: datetime

    def conflict(self, detail: str, code: str, field: str | None = None) -> Refusal:
        """409: not now (the stage, a pending dispatch, a rule of disclosure)."""
        return Refusal(
            status=409,
            code=code,
            detail=detail,
            field=field,
            stage=self.state.stage,
            allowed=self.protocol.allowed_in(self.state.stage),
        )

    def invalid(self, detail: str, field: str) -> Refusal:
        """409: the body is well formed but wrong for this incident as it is now (an id it does
        not know, an instrument its protocol does not take): a conflict with the incident's
        state, which no schema can state (422 is for what the document refuses)."""
        return Refusal(status=409, code="invalid", detail=detail, field=field)


@dataclass
class Change(Generic[B]):
    """What a kind's `apply` changes: a copy of the state it owns, and the effects it orders."""

    state: IncidentState
    protocol: CrisisProtocol
    request: DecisionRequest
    decision: B
    now: datetime
    effects: Effects = field(default_factory=Effects)


def never_refused(_: Verdict[Any]) -> Refusal | None:
    return None


@dataclass(frozen=True)
class DecisionKindSpec(Generic[B]):
    """One decision kind, whole: the registry's entry."""

    kind: DecisionKind
    body: type[B]
    roles: frozenset[Role]
    # What the change records in the audit detail (never the clinician's notes).
    apply: Callable[[Change[B]], dict[str, Any]]
    refuse: Callable[[Verdict[B]], Refusal | None] = never_refused
