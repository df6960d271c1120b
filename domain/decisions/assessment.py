"""`assessment`: an instrument's answers (or clinical judgement) set the risk level."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from domain.decisions.base import CLINICAL, Change, DecisionBody, DecisionKindSpec, Verdict
from domain.incident.rules import advance, set_risk
from domain.incident.state import AssessmentSummary, Refusal
from domain.instrument_catalog import (
    CATALOG,
    answers_schema,
    assessment_rules,
    scores_schema,
    signs_schema,
)
from domain.instruments import (
    InstrumentError,
    InstrumentResult,
    score_ciwa_ar,
    score_cows,
    score_cssrs_screener,
    score_overdose_signs,
)
from domain.protocols.base import CrisisProtocol
from domain.vocabulary import DecisionKind, Instrument, RiskLevel, Stage

_T = TypeVar("_T")


# At least three characters that are not white space: the first three of them are separated by
# white space only, so this linear pattern finds them (the OpenAPI document states the same).
JUSTIFIED = re.compile(r"\S\s*\S\s*\S")


class Assessment(DecisionBody):
    # What the validator below enforces across fields, stated in the OpenAPI document too.
    model_config = ConfigDict(json_schema_extra=assessment_rules(JUSTIFIED.pattern))

    kind: Literal[DecisionKind.ASSESSMENT] = DecisionKind.ASSESSMENT
    instrument: Instrument
    # Bounded by the largest instrument: C-SSRS 7 answers, COWS 11 items, 10 overdose signs.
    # The items' names and values are documented from the catalog; the scoring checks them.
    answers: Annotated[dict[str, bool] | None, WithJsonSchema(answers_schema())] = Field(
        default=None, max_length=7
    )
    scores: Annotated[dict[str, int] | None, WithJsonSchema(scores_schema())] = Field(
        default=None, max_length=11
    )
    signs: Annotated[list[str] | None, WithJsonSchema(signs_schema())] = Field(
        default=None, max_length=10
    )
    risk_override: RiskLevel | None = None
    justification: str | None = Field(default=None, max_length=4000)
    notes: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _scorable(self) -> Assessment:
        takes = CATALOG[self.instrument].field
        for name in ("answers", "scores", "signs"):
            if name != takes and getattr(self, name) is not None:
                instead = f"it takes {takes}" if takes else "it takes a risk_override"
                raise ValueError(f"{name}: not an item field of {self.instrument}; {instead}")
        result = self.score(None)
        if result is None and self.risk_override is None:
            raise ValueError("risk_override: clinical judgement needs a risk level")
        if self.risk_override is not None and not JUSTIFIED.search(self.justification or ""):
            raise ValueError(
                "justification: a risk level the clinician sets (an override, or clinical "
                "judgement) needs a clinical justification of at least 3 characters "
                "(NPSG 15.01.01)"
            )
        return self

    def score(self, protocol: CrisisProtocol | None) -> InstrumentResult | None:
        """The instrument's result with the protocol's bands (defaults when none is given)."""
        try:
            match self.instrument:
                case Instrument.CSSRS_SCREENER:
                    return score_cssrs_screener(_required(self.answers, "answers"))
                case Instrument.CIWA_AR:
                    scores = _required(self.scores, "scores")
                    if protocol is None:
                        return score_ciwa_ar(scores)
                    return score_ciwa_ar(scores, protocol.ciwa_ar_bands)
                case Instrument.COWS:
                    scores = _required(self.scores, "scores")
                    if protocol is None:
                        return score_cows(scores)
                    return score_cows(scores, protocol.cows_bands)
                case Instrument.OVERDOSE_SIGNS:
                    return score_overdose_signs(_required(self.signs, "signs"))
                case Instrument.CLINICAL_JUDGEMENT:
                    return None
        except InstrumentError as error:
            raise ValueError(f"{error.field}: {error.message}") from None

    def risk_level(self, protocol: CrisisProtocol | None) -> RiskLevel:
        result = self.score(protocol)
        if self.risk_override is not None:
            return self.risk_override
        assert result is not None  # guaranteed by _scorable
        return result.risk_level


def _required(value: _T | None, field: str) -> _T:
    if value is None:
        raise InstrumentError(field, "is required for this instrument")
    return value


def refuse(verdict: Verdict[Assessment]) -> Refusal | None:
    protocol = verdict.protocol
    if verdict.decision.instrument not in protocol.instruments:
        return verdict.invalid(
            f"{verdict.decision.instrument} is not an instrument of the "
            f"{verdict.state.crisis_type} protocol (use one of {', '.join(protocol.instruments)})",
            "instrument",
        )
    return None


def apply(change: Change[Assessment]) -> dict[str, Any]:
    s, decision, now = change.state, change.decision, change.now
    result = decision.score(change.protocol)
    level = decision.risk_level(change.protocol)
    s.assessments.append(
        AssessmentSummary(
            instrument=decision.instrument,
            computed_risk=result.risk_level if result else None,
            risk_level=level,
            total=result.total if result else None,
            band=result.band if result else None,
            overridden=decision.risk_override is not None,
            at=now,
        )
    )
    set_risk(s, change.protocol, level, now)
    advance(s, Stage.ASSESSING)
    return {
        "instrument": decision.instrument,
        "computed_risk": result.risk_level if result else None,
        "risk_level": level,
        "total": result.total if result else None,
        "overridden": decision.risk_override is not None,
    }


SPEC = DecisionKindSpec(
    kind=DecisionKind.ASSESSMENT, body=Assessment, roles=CLINICAL, refuse=refuse, apply=apply
)
