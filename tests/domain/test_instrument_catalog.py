"""The instrument catalog a form is built from agrees with the scoring: a form filled from the
catalog's items and values scores, and what it leaves out or adds is refused as the catalog says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.decisions import Assessment
from domain.instrument_catalog import (
    CATALOG,
    InstrumentEntry,
    answers_schema,
    scores_schema,
    signs_schema,
)
from domain.instruments import (
    InstrumentError,
    score_ciwa_ar,
    score_cows,
    score_cssrs_screener,
    score_overdose_signs,
)
from domain.vocabulary import Instrument, RiskLevel


def _top(entry: InstrumentEntry) -> dict[str, int]:
    return {item.name: max(item.allowed) for item in entry.items}


def test_every_instrument_is_in_the_catalog_under_its_own_name() -> None:
    assert list(CATALOG) == list(Instrument)
    assert all(entry.instrument is instrument for instrument, entry in CATALOG.items())
    assert {i: e.field for i, e in CATALOG.items()} == {
        Instrument.CSSRS_SCREENER: "answers",
        Instrument.CIWA_AR: "scores",
        Instrument.COWS: "scores",
        Instrument.OVERDOSE_SIGNS: "signs",
        Instrument.CLINICAL_JUDGEMENT: None,
    }
    assert CATALOG[Instrument.CLINICAL_JUDGEMENT].items == ()


def test_each_item_has_a_label_a_clinician_reads() -> None:
    for entry in CATALOG.values():
        labels = [item.label for item in entry.items]
        assert len(set(labels)) == len(labels), entry.instrument
        for item in entry.items:
            assert item.label and item.label != item.name
    assert CATALOG[Instrument.CIWA_AR].items[1].label == "Tremor (arms extended, fingers spread)"
    assert CATALOG[Instrument.COWS].items[0].label == "Resting pulse rate"


def test_a_scale_filled_at_the_catalogs_values_scores_its_range() -> None:
    ciwa, cows = CATALOG[Instrument.CIWA_AR], CATALOG[Instrument.COWS]
    assert score_ciwa_ar(_top(ciwa)).total == 67
    assert score_cows(_top(cows)).total == 48
    assert score_ciwa_ar({item.name: 0 for item in ciwa.items}).total == 0
    for entry, score in ((ciwa, score_ciwa_ar), (cows, score_cows)):
        for item in entry.items:
            assert item.value_type == "integer" and item.required
            for value in item.allowed:
                score({**_top(entry), item.name: value})  # every offered value is taken
            with pytest.raises(InstrumentError):  # and the next one up is not
                score({**_top(entry), item.name: max(item.allowed) + 1})
            gaps = set(range(max(item.allowed))) - set(item.allowed)
            for value in gaps:
                with pytest.raises(InstrumentError):
                    score({**_top(entry), item.name: value})
    assert CATALOG[Instrument.COWS].items[0].allowed == (0, 1, 2, 4)
    assert CATALOG[Instrument.CIWA_AR].items[-1].allowed == (0, 1, 2, 3, 4)


def test_the_cssrs_form_asks_what_the_scoring_requires() -> None:
    items = {item.name: item for item in CATALOG[Instrument.CSSRS_SCREENER].items}
    required = {name for name, item in items.items() if item.required}
    assert required == {"wish_dead", "suicidal_thoughts", "behavior"}
    assert {name: item.asked_when for name, item in items.items() if item.asked_when} == {
        "method": "suicidal_thoughts",
        "intent": "suicidal_thoughts",
        "plan": "suicidal_thoughts",
        "behavior_past_3_months": "behavior",
    }
    assert all(item.value_type == "boolean" for item in items.values())
    assert score_cssrs_screener({name: False for name in required}).risk_level is RiskLevel.LOW
    for name in required:
        with pytest.raises(InstrumentError) as missing:
            score_cssrs_screener({other: False for other in required - {name}})
        assert missing.value.field == f"answers.{name}"
    for name, item in items.items():
        if item.asked_when:
            with pytest.raises(InstrumentError):  # a follow-up needs a yes to its question
                score_cssrs_screener({**{r: False for r in required}, name: True})


def test_an_imminent_sign_alone_makes_the_risk_imminent() -> None:
    for item in CATALOG[Instrument.OVERDOSE_SIGNS].items:
        assert item.value_type == "sign" and not item.required
        risk = score_overdose_signs([item.name]).risk_level
        assert (risk is RiskLevel.IMMINENT) == item.imminent, item.name
    assert sum(item.imminent for item in CATALOG[Instrument.OVERDOSE_SIGNS].items) == 5


def test_scales_carry_their_bands_and_every_instrument_its_risk_rule() -> None:
    assert [b.min_total for b in CATALOG[Instrument.CIWA_AR].bands] == [0, 10, 19]
    assert [b.min_total for b in CATALOG[Instrument.COWS].bands] == [0, 5, 13, 25, 37]
    assert CATALOG[Instrument.CSSRS_SCREENER].bands == ()
    assert all(entry.risk_rule and entry.title for entry in CATALOG.values())


@pytest.mark.parametrize(
    ("instrument", "body"),
    [
        (Instrument.CSSRS_SCREENER, {"scores": {"tremor": 1}}),
        (Instrument.CIWA_AR, {"answers": {"wish_dead": True}}),
        (Instrument.COWS, {"signs": ["vomiting"]}),
        (Instrument.OVERDOSE_SIGNS, {"answers": {"wish_dead": True}}),
        (Instrument.CLINICAL_JUDGEMENT, {"signs": ["vomiting"]}),
    ],
)
def test_items_in_another_instruments_field_are_refused(
    instrument: Instrument, body: dict[str, object]
) -> None:
    entry = CATALOG[instrument]
    filled: dict[str, object] = {"risk_override": "low", "justification": "seen on video"}
    if entry.field == "answers":
        filled["answers"] = {"wish_dead": False, "suicidal_thoughts": False, "behavior": False}
    elif entry.field == "scores":
        filled["scores"] = _top(entry)
    elif entry.field == "signs":
        filled["signs"] = []
    Assessment(instrument=instrument, **filled)
    with pytest.raises(ValidationError) as refused:
        Assessment(instrument=instrument, **filled, **body)
    wrong = next(iter(body))
    takes = f"it takes {entry.field}" if entry.field else "it takes a risk_override"
    assert f"{wrong}: not an item field of {instrument}; {takes}" in str(refused.value)


def test_the_answers_schema_states_the_cssrs_items_and_their_follow_ups() -> None:
    answers, null = answers_schema()["anyOf"]
    assert null == {"type": "null"}
    assert answers_schema()["description"] == "for cssrs_screener"
    assert answers["type"] == "object"
    assert answers["additionalProperties"] is False
    assert answers["required"] == ["wish_dead", "suicidal_thoughts", "behavior"]
    assert answers["properties"]["plan"] == {
        "type": "boolean",
        "description": CATALOG[Instrument.CSSRS_SCREENER].items[4].label,
    }
    assert len(answers["properties"]) == 7
    assert answers["allOf"][1] == {
        "if": {"properties": {"behavior": {"const": True}}, "required": ["behavior"]},
        "then": {"required": ["behavior_past_3_months"]},
        "else": {"properties": {"behavior_past_3_months": {"const": False}}},
    }
    assert answers["allOf"][0]["then"] == {"required": ["method", "intent", "plan"]}


def test_the_scores_and_signs_schemas_state_each_scale_and_sign() -> None:
    ciwa, cows, null = scores_schema()["anyOf"]
    assert null == {"type": "null"}
    assert scores_schema()["description"] == "for ciwa_ar or cows"
    assert ciwa["title"] == "CIWA-Ar (alcohol withdrawal)"
    assert ciwa["type"] == "object" and ciwa["additionalProperties"] is False
    assert ciwa["required"] == [item.name for item in CATALOG[Instrument.CIWA_AR].items]
    assert cows["properties"]["gooseflesh"] == {
        "type": "integer",
        "enum": [0, 3, 5],
        "description": "Gooseflesh skin",
    }
    signs, null = signs_schema()["anyOf"]
    assert null == {"type": "null"}
    assert signs_schema()["description"] == "for overdose_signs"
    assert signs == {
        "type": "array",
        "items": {
            "type": "string",
            "enum": [item.name for item in CATALOG[Instrument.OVERDOSE_SIGNS].items],
        },
        "uniqueItems": True,
        "maxItems": 10,
    }


def test_the_assessment_body_documents_its_items() -> None:
    properties = Assessment.model_json_schema()["properties"]
    for field, schema in (
        ("answers", answers_schema()),
        ("scores", scores_schema()),
        ("signs", signs_schema()),
    ):
        assert properties[field] == {**schema, "default": None, "title": field.title()}
