"""The instruments as a clinician fills them in: each item's name, its clinician-facing label, the
values it takes, which field of an assessment it goes in, and how the result reads as a risk.

Item names and allowed values are the scoring's own (domain.instruments); this module adds the
words a form shows. `GET /v1/instruments` answers `CATALOG`, and the assessment body's OpenAPI
schema is made from it (`answers_schema`, `scores_schema`, `signs_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel

from domain.instruments import (
    CIWA_AR_ITEMS,
    COWS_ALLOWED,
    CSSRS_ITEMS,
    CSSRS_REQUIRED,
    CSSRS_THOUGHT_FOLLOWUPS,
    DEFAULT_CIWA_AR_BANDS,
    DEFAULT_COWS_BANDS,
    IMMINENT_OVERDOSE_SIGNS,
    OVERDOSE_SIGNS,
    Band,
)
from domain.vocabulary import Instrument

AnswerField = Literal["answers", "scores", "signs"]


class InstrumentItem(BaseModel, frozen=True):
    """One question of a form: what is sent (`name`), what is asked (`label`), what it takes."""

    name: str
    label: str
    value_type: Literal["boolean", "integer", "sign"]
    # For an integer item: the scores it takes (CIWA-Ar a range, COWS the scale's own values).
    allowed: tuple[int, ...] = ()
    required: bool
    # Asked (and then required) only when this other item is answered yes.
    asked_when: str | None = None
    # For an overdose sign: it alone makes the risk imminent.
    imminent: bool = False


class InstrumentEntry(BaseModel, frozen=True):
    instrument: Instrument
    title: str
    # The assessment field the items go in; None for clinical judgement (a risk_override).
    field: AnswerField | None
    items: tuple[InstrumentItem, ...]
    # Total-score bands (CIWA-Ar, COWS) as the default protocol reads them.
    bands: tuple[Band, ...] = ()
    risk_rule: str


_CSSRS_LABELS = {
    "wish_dead": "Have you wished you were dead or wished you could go to sleep and not wake up?",
    "suicidal_thoughts": "Have you actually had any thoughts about killing yourself?",
    "method": "Have you thought about how you might do this?",
    "intent": "Have you had any intention of acting on these thoughts?",
    "plan": "Have you started to work out, or worked out, the details of how to kill yourself?",
    "behavior": "Have you ever done anything, started to do anything, or prepared to do "
    "anything to end your life?",
    "behavior_past_3_months": "Was that within the past 3 months?",
}
_CIWA_AR_LABELS = {
    "nausea_vomiting": "Nausea and vomiting",
    "tremor": "Tremor (arms extended, fingers spread)",
    "paroxysmal_sweats": "Paroxysmal sweats",
    "anxiety": "Anxiety",
    "agitation": "Agitation",
    "tactile_disturbances": "Tactile disturbances",
    "auditory_disturbances": "Auditory disturbances",
    "visual_disturbances": "Visual disturbances",
    "headache": "Headache, fullness in head",
    "orientation": "Orientation and clouding of sensorium",
}
_COWS_LABELS = {
    "resting_pulse": "Resting pulse rate",
    "sweating": "Sweating (past half hour)",
    "restlessness": "Restlessness during the assessment",
    "pupil_size": "Pupil size",
    "bone_joint_aches": "Bone or joint aches",
    "runny_nose_tearing": "Runny nose or tearing",
    "gi_upset": "GI upset (past half hour)",
    "tremor": "Tremor (outstretched hands)",
    "yawning": "Yawning during the assessment",
    "anxiety_irritability": "Anxiety or irritability",
    "gooseflesh": "Gooseflesh skin",
}
_OVERDOSE_LABELS = {
    "unresponsive": "Unresponsive, cannot be woken",
    "slow_breathing": "Slow or shallow breathing",
    "no_breathing": "Not breathing",
    "blue_lips_or_nails": "Blue or grey lips or fingernails",
    "gurgling": "Gurgling or snoring sounds",
    "pinpoint_pupils": "Pinpoint pupils",
    "vomiting": "Vomiting",
    "confusion": "Confused or disoriented",
    "clammy_skin": "Cold, clammy skin",
    "faint_pulse": "Faint or no pulse",
}


# A follow-up question is asked (and then required) only after a yes to its gate.
_ASKED_WHEN = {
    **dict.fromkeys(CSSRS_THOUGHT_FOLLOWUPS, "suicidal_thoughts"),
    "behavior_past_3_months": "behavior",
}
_CIWA_AR_ALLOWED = {name: frozenset(range(top + 1)) for name, top in CIWA_AR_ITEMS.items()}

CATALOG: Mapping[Instrument, InstrumentEntry] = MappingProxyType(
    {
        Instrument.CSSRS_SCREENER: InstrumentEntry(
            instrument=Instrument.CSSRS_SCREENER,
            title="C-SSRS screener (past month)",
            field="answers",
            items=tuple(
                InstrumentItem(
                    name=name,
                    label=_CSSRS_LABELS[name],
                    value_type="boolean",
                    required=name in CSSRS_REQUIRED,
                    asked_when=_ASKED_WHEN.get(name),
                )
                for name in CSSRS_ITEMS
            ),
            risk_rule="intent, plan or behavior in the past 3 months: high; method or older "
            "behavior: moderate; otherwise low",
        ),
        Instrument.CIWA_AR: InstrumentEntry(
            instrument=Instrument.CIWA_AR,
            title="CIWA-Ar (alcohol withdrawal)",
            field="scores",
            items=tuple(
                InstrumentItem(
                    name=name,
                    label=_CIWA_AR_LABELS[name],
                    value_type="integer",
                    allowed=tuple(sorted(allowed)),
                    required=True,
                )
                for name, allowed in _CIWA_AR_ALLOWED.items()
            ),
            bands=DEFAULT_CIWA_AR_BANDS.bands,
            risk_rule="the sum of all items, read through the bands",
        ),
        Instrument.COWS: InstrumentEntry(
            instrument=Instrument.COWS,
            title="COWS (opioid withdrawal)",
            field="scores",
            items=tuple(
                InstrumentItem(
                    name=name,
                    label=_COWS_LABELS[name],
                    value_type="integer",
                    allowed=tuple(sorted(allowed)),
                    required=True,
                )
                for name, allowed in COWS_ALLOWED.items()
            ),
            bands=DEFAULT_COWS_BANDS.bands,
            risk_rule="the sum of all items, read through the bands",
        ),
        Instrument.OVERDOSE_SIGNS: InstrumentEntry(
            instrument=Instrument.OVERDOSE_SIGNS,
            title="Overdose signs",
            field="signs",
            items=tuple(
                InstrumentItem(
                    name=sign,
                    label=_OVERDOSE_LABELS[sign],
                    value_type="sign",
                    required=False,
                    imminent=sign in IMMINENT_OVERDOSE_SIGNS,
                )
                for sign in OVERDOSE_SIGNS
            ),
            risk_rule="any imminent sign: imminent; any other sign: high; none: moderate",
        ),
        Instrument.CLINICAL_JUDGEMENT: InstrumentEntry(
            instrument=Instrument.CLINICAL_JUDGEMENT,
            title="Clinical judgement",
            field=None,
            items=(),
            risk_rule="the clinician's risk_override, with a justification",
        ),
    }
)


def _scale_schema(entry: InstrumentEntry) -> dict[str, Any]:
    return {
        "type": "object",
        "title": entry.title,
        "properties": {
            item.name: {"type": "integer", "enum": list(item.allowed), "description": item.label}
            for item in entry.items
        },
        "required": [item.name for item in entry.items],
        "additionalProperties": False,
    }


def answers_schema() -> dict[str, Any]:
    """The OpenAPI schema of `answers`: the C-SSRS screener's yes/no items."""
    entry = CATALOG[Instrument.CSSRS_SCREENER]
    answers = {
        "type": "object",
        "title": entry.title,
        "properties": {
            item.name: {"type": "boolean", "description": item.label} for item in entry.items
        },
        "required": [item.name for item in entry.items if item.required],
        "additionalProperties": False,
        "allOf": [_asked_when(entry, gate) for gate in ("suicidal_thoughts", "behavior")],
    }
    return {"anyOf": [answers, {"type": "null"}], "description": "for cssrs_screener"}


def _asked_when(entry: InstrumentEntry, gate: str) -> dict[str, Any]:
    """A yes to `gate` requires its follow-up items; otherwise they may only be no."""
    followups = [item.name for item in entry.items if item.asked_when == gate]
    return {
        "if": {"properties": {gate: {"const": True}}, "required": [gate]},
        "then": {"required": followups},
        "else": {"properties": {name: {"const": False} for name in followups}},
    }


def scores_schema() -> dict[str, Any]:
    """The OpenAPI schema of `scores`: every CIWA-Ar item, or every COWS item."""
    scales = [_scale_schema(CATALOG[Instrument.CIWA_AR]), _scale_schema(CATALOG[Instrument.COWS])]
    return {"anyOf": [*scales, {"type": "null"}], "description": "for ciwa_ar or cows"}


def signs_schema() -> dict[str, Any]:
    """The OpenAPI schema of `signs`: the overdose signs seen, each once."""
    signs = {
        "type": "array",
        "items": {"type": "string", "enum": list(OVERDOSE_SIGNS)},
        "uniqueItems": True,
        "maxItems": len(OVERDOSE_SIGNS),
    }
    return {"anyOf": [signs, {"type": "null"}], "description": "for overdose_signs"}


_ITEM_FIELDS: tuple[AnswerField, ...] = ("answers", "scores", "signs")


def _field_schema(entry: InstrumentEntry) -> dict[str, Any]:
    """The one item field an instrument takes, as its own items (no other instrument's)."""
    if entry.field == "scores":
        return _scale_schema(entry)
    if entry.field == "answers":
        return answers_schema()["anyOf"][0]  # type: ignore[no-any-return]
    return signs_schema()["anyOf"][0]  # type: ignore[no-any-return]


def _instrument_rule(entry: InstrumentEntry) -> dict[str, Any]:
    others = {name: {"type": "null"} for name in _ITEM_FIELDS if name != entry.field}
    if entry.field is None:  # clinical judgement: the clinician's risk level, no items
        takes: dict[str, Any] = {
            "required": ["risk_override"],
            "properties": {"risk_override": {"not": {"type": "null"}}, **others},
        }
    else:
        takes = {
            "required": [entry.field],
            "properties": {entry.field: _field_schema(entry), **others},
        }
    return {
        "if": {"properties": {"instrument": {"const": entry.instrument.value}}},
        "then": takes,
    }


def assessment_rules(justified: str) -> dict[str, Any]:
    """The assessment body's rules across fields, for its OpenAPI schema: each instrument takes
    its own item field and no other (clinical judgement a risk level instead), and a risk level
    the clinician sets needs a justification (`justified`: the pattern it must contain)."""
    override = {
        "if": {
            "required": ["risk_override"],
            "properties": {"risk_override": {"not": {"type": "null"}}},
        },
        "then": {
            "required": ["justification"],
            "properties": {"justification": {"type": "string", "pattern": justified}},
        },
    }
    return {"allOf": [*(_instrument_rule(e) for e in CATALOG.values()), override]}
