"""`note`: free text on the timeline (kept with the decision, shown to clinical roles)."""

from __future__ import annotations

from typing import Any, Literal

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Text
from domain.vocabulary import DecisionKind


class Note(DecisionBody):
    kind: Literal[DecisionKind.NOTE] = DecisionKind.NOTE
    text: Text


def apply(change: Change[Note]) -> dict[str, Any]:
    return {}


SPEC = DecisionKindSpec(kind=DecisionKind.NOTE, body=Note, roles=CLINICAL, apply=apply)
