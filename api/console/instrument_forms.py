"""Instruments as forms: items, labels and allowed values from the instrument catalog (the same
data as `GET /v1/instruments`), scored as they are answered by the instrument's own rules, and
posted as the assessment body the JSON API takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from domain.decisions import Decision
from domain.decisions.assessment import Assessment
from domain.instrument_catalog import CATALOG, InstrumentEntry
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, DecisionKind, Instrument

_DECISION = TypeAdapter(Decision)


@dataclass(frozen=True)
class LiveScore:
    risk_level: str | None
    total: int | None
    band: str | None
    waiting_for: str | None


def instrument_forms(crisis_type: CrisisType) -> list[InstrumentEntry]:
    """The instruments the incident's protocol takes, in the protocol's order."""
    return [CATALOG[instrument] for instrument in protocol_for(crisis_type).instruments]


def _optional(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def assessment_body(form: FormData) -> dict[str, Any]:
    """The posted assessment form as the JSON body of an assessment."""
    raw = _optional(form, "instrument") or ""
    body: dict[str, Any] = {"kind": DecisionKind.ASSESSMENT.value, "instrument": raw}
    known = raw in {i.value for i in Instrument}
    entry = CATALOG.get(Instrument(raw)) if known else None
    if entry is not None and entry.field == "answers":
        answers = {
            item.name: form.get(f"answers.{item.name}") == "yes"
            for item in entry.items
            if form.get(f"answers.{item.name}") in ("yes", "no")
        }
        body["answers"] = answers
    elif entry is not None and entry.field == "scores":
        body["scores"] = {
            item.name: int(value)
            for item in entry.items
            if isinstance(value := form.get(f"scores.{item.name}"), str) and value.isdigit()
        }
    elif entry is not None and entry.field == "signs":
        body["signs"] = [s for s in form.getlist("signs") if isinstance(s, str) and s]
    for name in ("risk_override", "justification", "notes"):
        if (value := _optional(form, name)) is not None:
            body[name] = value
    return body


def assessment_from_form(form: FormData) -> Any:
    """Parsed as the JSON API parses it: a ValidationError names what is missing or wrong."""
    return _DECISION.validate_python(assessment_body(form))


def live_score(form: FormData) -> LiveScore:
    """The risk the answers so far give (before any override), or what is still missing."""
    body = assessment_body(form)
    body.pop("risk_override", None)
    try:
        assessment = Assessment.model_validate(body)
        result = assessment.score(None)
    except ValidationError as error:
        first = error.errors()[0]
        return LiveScore(None, None, None, str(first["msg"]).removeprefix("Value error, "))
    if result is None:
        return LiveScore(None, None, None, "choose a risk level (clinical judgement)")
    return LiveScore(result.risk_level.value, result.total, result.band, None)
