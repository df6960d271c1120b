"""Instrument scoring against SPEC section 2, with oracles written from the spec's own words."""

import itertools
from collections.abc import Mapping

import pytest
from pydantic import ValidationError

from domain.instruments import (
    CIWA_AR_ITEMS,
    COWS_ALLOWED,
    CSSRS_ITEMS,
    DEFAULT_CIWA_AR_BANDS,
    DEFAULT_COWS_BANDS,
    IMMINENT_OVERDOSE_SIGNS,
    OVERDOSE_SIGNS,
    Band,
    InstrumentError,
    ScoreBands,
    score_ciwa_ar,
    score_cows,
    score_cssrs_screener,
    score_overdose_signs,
)
from domain.vocabulary import Instrument, RiskLevel

LOW, MODERATE, HIGH, IMMINENT = (
    RiskLevel.LOW,
    RiskLevel.MODERATE,
    RiskLevel.HIGH,
    RiskLevel.IMMINENT,
)
ABSENT = object()


# --- item lists are the spec's ------------------------------------------------------------------


def test_item_lists_match_the_spec() -> None:
    assert set(CSSRS_ITEMS) == {
        "wish_dead",
        "suicidal_thoughts",
        "method",
        "intent",
        "plan",
        "behavior",
        "behavior_past_3_months",
    }
    assert sum(CIWA_AR_ITEMS.values()) == 67
    assert len(CIWA_AR_ITEMS) == 10
    assert sum(max(values) for values in COWS_ALLOWED.values()) == 48
    assert len(COWS_ALLOWED) == 11
    assert len(OVERDOSE_SIGNS) == 10
    assert set(IMMINENT_OVERDOSE_SIGNS) == {
        "unresponsive",
        "slow_breathing",
        "no_breathing",
        "blue_lips_or_nails",
        "gurgling",
    }


# --- C-SSRS screener ----------------------------------------------------------------------------


def cssrs_oracle(given: Mapping[str, bool]) -> RiskLevel | set[str]:
    """The spec's table; returns the risk level, or the set of fields that may be blamed."""
    violations = {
        item for item in ("wish_dead", "suicidal_thoughts", "behavior") if item not in given
    }
    if violations:
        return {f"answers.{item}" for item in violations}
    followups = ("method", "intent", "plan")
    if given["suicidal_thoughts"]:
        violations |= {item for item in followups if item not in given}
    else:
        violations |= {item for item in followups if given.get(item) is True}
    if given["behavior"] and "behavior_past_3_months" not in given:
        violations.add("behavior_past_3_months")
    if not given["behavior"] and given.get("behavior_past_3_months") is True:
        violations.add("behavior_past_3_months")
    if violations:
        return {f"answers.{item}" for item in violations}

    def yes(item: str) -> bool:
        return given.get(item) is True

    within_3_months = yes("behavior") and yes("behavior_past_3_months")
    longer_ago = yes("behavior") and not yes("behavior_past_3_months")
    if yes("intent") or yes("plan") or within_3_months:
        return HIGH
    if yes("method") or longer_ago:
        return MODERATE
    return LOW  # no to all, or wish_dead / suicidal_thoughts only


def test_cssrs_every_combination_of_absent_no_yes_matches_the_spec_table() -> None:
    mismatches = []
    valid = 0
    for choice in itertools.product((ABSENT, False, True), repeat=len(CSSRS_ITEMS)):
        answers = {
            item: value
            for item, value in zip(CSSRS_ITEMS, choice, strict=True)
            if value is not ABSENT
        }
        expected = cssrs_oracle(answers)
        try:
            result = score_cssrs_screener(answers)
        except InstrumentError as error:
            if not isinstance(expected, set) or error.field not in expected:
                mismatches.append((answers, expected, error.field))
            continue
        valid += 1
        if result.risk_level != expected or result.instrument != Instrument.CSSRS_SCREENER:
            mismatches.append((answers, expected, result.risk_level))
    assert mismatches == []
    # 2 (wish_dead) * [8 method/intent/plan when thinking + 8 absent-or-no when not]
    # * [2 recency when behavior + 2 absent-or-no when not]
    assert valid == 2 * (8 + 8) * (2 + 2)


def test_cssrs_never_gives_imminent() -> None:
    everything = dict.fromkeys(CSSRS_ITEMS, True)
    assert score_cssrs_screener(everything).risk_level == HIGH


def test_cssrs_spec_example_intent_is_high_and_names_intent() -> None:
    result = score_cssrs_screener(
        {
            "wish_dead": True,
            "suicidal_thoughts": True,
            "method": True,
            "intent": True,
            "plan": False,
            "behavior": False,
            "behavior_past_3_months": False,
        }
    )
    assert result.risk_level == HIGH
    assert result.findings == ("intent",)
    assert result.total is None
    assert result.band is None


THINKING = {
    "wish_dead": True,
    "suicidal_thoughts": True,
    "method": False,
    "intent": False,
    "plan": False,
    "behavior": False,
}


@pytest.mark.parametrize(
    ("answers", "risk", "findings"),
    [
        ({"wish_dead": False, "suicidal_thoughts": False, "behavior": False}, LOW, ()),
        ({"wish_dead": True, "suicidal_thoughts": False, "behavior": False}, LOW, ("wish_dead",)),
        (
            {**THINKING, "method": True},
            MODERATE,
            ("method",),
        ),
        (
            {
                "wish_dead": False,
                "suicidal_thoughts": False,
                "behavior": True,
                "behavior_past_3_months": False,
            },
            MODERATE,
            ("behavior",),
        ),
        (
            {
                "wish_dead": False,
                "suicidal_thoughts": False,
                "behavior": True,
                "behavior_past_3_months": True,
            },
            HIGH,
            ("behavior_past_3_months",),
        ),
        (
            {**THINKING, "plan": True},
            HIGH,
            ("plan",),
        ),
    ],
)
def test_cssrs_findings_name_the_items_that_set_the_level(
    answers: dict[str, bool], risk: RiskLevel, findings: tuple[str, ...]
) -> None:
    result = score_cssrs_screener(answers)
    assert result.risk_level == risk
    assert result.findings == findings


@pytest.mark.parametrize("followup", ["method", "intent", "plan"])
def test_cssrs_followup_answered_yes_without_suicidal_thoughts_is_refused(followup: str) -> None:
    answers = {"wish_dead": True, "suicidal_thoughts": False, "behavior": False, followup: True}
    with pytest.raises(InstrumentError) as caught:
        score_cssrs_screener(answers)
    assert caught.value.field == f"answers.{followup}"
    assert "suicidal_thoughts" in caught.value.message


@pytest.mark.parametrize("followup", ["method", "intent", "plan"])
def test_cssrs_followup_is_required_when_there_are_suicidal_thoughts(followup: str) -> None:
    answers = dict(THINKING)
    del answers[followup]
    with pytest.raises(InstrumentError) as caught:
        score_cssrs_screener(answers)
    assert caught.value.field == f"answers.{followup}"


def test_cssrs_recency_is_required_when_there_was_behavior() -> None:
    with pytest.raises(InstrumentError) as caught:
        score_cssrs_screener({"wish_dead": False, "suicidal_thoughts": False, "behavior": True})
    assert caught.value.field == "answers.behavior_past_3_months"


def test_cssrs_recent_behavior_without_behavior_is_refused() -> None:
    with pytest.raises(InstrumentError) as caught:
        score_cssrs_screener(
            {
                "wish_dead": False,
                "suicidal_thoughts": False,
                "behavior": False,
                "behavior_past_3_months": True,
            }
        )
    assert caught.value.field == "answers.behavior_past_3_months"


@pytest.mark.parametrize("missing", ["wish_dead", "suicidal_thoughts", "behavior"])
def test_cssrs_required_item_missing_is_named(missing: str) -> None:
    answers = {"wish_dead": False, "suicidal_thoughts": False, "behavior": False}
    del answers[missing]
    with pytest.raises(InstrumentError) as caught:
        score_cssrs_screener(answers)
    assert caught.value.field == f"answers.{missing}"


def test_cssrs_unknown_item_is_named() -> None:
    with pytest.raises(InstrumentError) as caught:
        score_cssrs_screener(
            {"wish_dead": False, "suicidal_thoughts": False, "behavior": False, "hopeless": True}
        )
    assert caught.value.field == "answers.hopeless"
    assert str(caught.value).startswith("answers.hopeless: ")


@pytest.mark.parametrize("item", CSSRS_ITEMS)
@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_cssrs_non_boolean_answer_is_refused(item: str, value: object) -> None:
    answers: dict[str, object] = {
        "wish_dead": False,
        "suicidal_thoughts": True,
        "method": False,
        "intent": False,
        "plan": False,
        "behavior": True,
        "behavior_past_3_months": False,
    }
    answers[item] = value
    with pytest.raises(InstrumentError) as caught:
        score_cssrs_screener(answers)  # type: ignore[arg-type]
    assert caught.value.field == f"answers.{item}"


# --- CIWA-Ar ------------------------------------------------------------------------------------


def ciwa_scores_totalling(total: int) -> dict[str, int]:
    scores = {}
    remaining = total
    for item, top in CIWA_AR_ITEMS.items():
        scores[item] = min(top, remaining)
        remaining -= scores[item]
    assert remaining == 0, f"{total} is beyond the CIWA-Ar range"
    return scores


def ciwa_band_oracle(total: int) -> tuple[str, RiskLevel]:
    if total < 10:
        return "mild", LOW
    if total <= 18:
        return "moderate", MODERATE
    return "severe", HIGH


@pytest.mark.parametrize("total", range(68))
def test_ciwa_every_total_falls_in_the_spec_band(total: int) -> None:
    result = score_ciwa_ar(ciwa_scores_totalling(total))
    assert result.instrument == Instrument.CIWA_AR
    assert result.total == total
    assert (result.band, result.risk_level) == ciwa_band_oracle(total)


@pytest.mark.parametrize(
    ("total", "band", "risk"),
    [
        (9, "mild", LOW),
        (10, "moderate", MODERATE),
        (18, "moderate", MODERATE),
        (19, "severe", HIGH),
        (67, "severe", HIGH),
    ],
)
def test_ciwa_band_boundaries(total: int, band: str, risk: RiskLevel) -> None:
    result = score_ciwa_ar(ciwa_scores_totalling(total))
    assert (result.total, result.band, result.risk_level) == (total, band, risk)


def test_ciwa_maximum_scores_total_67() -> None:
    assert score_ciwa_ar(dict(CIWA_AR_ITEMS)).total == 67


@pytest.mark.parametrize(
    ("item", "value"),
    [(item, value) for item, top in CIWA_AR_ITEMS.items() for value in range(top + 1)],
)
def test_ciwa_every_in_range_value_counts_toward_the_total(item: str, value: int) -> None:
    scores = dict.fromkeys(CIWA_AR_ITEMS, 0)
    scores[item] = value
    assert score_ciwa_ar(scores).total == value


@pytest.mark.parametrize(
    ("item", "value"),
    [(item, value) for item, top in CIWA_AR_ITEMS.items() for value in (-1, top + 1, 100)],
)
def test_ciwa_out_of_range_value_is_refused_and_named(item: str, value: int) -> None:
    scores = dict.fromkeys(CIWA_AR_ITEMS, 0)
    scores[item] = value
    with pytest.raises(InstrumentError) as caught:
        score_ciwa_ar(scores)
    assert caught.value.field == f"scores.{item}"
    assert f"0-{CIWA_AR_ITEMS[item]}" in caught.value.message


@pytest.mark.parametrize("item", CIWA_AR_ITEMS)
@pytest.mark.parametrize("value", [True, False, 3.0, "3", None])
def test_ciwa_non_integer_value_is_refused(item: str, value: object) -> None:
    scores: dict[str, object] = dict.fromkeys(CIWA_AR_ITEMS, 0)
    scores[item] = value
    with pytest.raises(InstrumentError) as caught:
        score_ciwa_ar(scores)  # type: ignore[arg-type]
    assert caught.value.field == f"scores.{item}"


@pytest.mark.parametrize("item", CIWA_AR_ITEMS)
def test_ciwa_every_item_is_required(item: str) -> None:
    scores = dict.fromkeys(CIWA_AR_ITEMS, 0)
    del scores[item]
    with pytest.raises(InstrumentError) as caught:
        score_ciwa_ar(scores)
    assert caught.value.field == f"scores.{item}"
    assert "required" in caught.value.message


def test_ciwa_unknown_item_is_named() -> None:
    scores = dict.fromkeys(CIWA_AR_ITEMS, 0)
    scores["seizures"] = 1
    with pytest.raises(InstrumentError) as caught:
        score_ciwa_ar(scores)
    assert caught.value.field == "scores.seizures"


def test_ciwa_custom_bands_change_the_result() -> None:
    stricter = ScoreBands(
        bands=(
            Band(min_total=0, label="mild", risk=LOW),
            Band(min_total=8, label="moderate", risk=MODERATE),
            Band(min_total=15, label="severe", risk=HIGH),
        )
    )
    scores = ciwa_scores_totalling(8)
    assert score_ciwa_ar(scores).risk_level == LOW
    result = score_ciwa_ar(scores, stricter)
    assert (result.band, result.risk_level) == ("moderate", MODERATE)
    assert score_ciwa_ar(ciwa_scores_totalling(15), stricter).risk_level == HIGH


# --- COWS ---------------------------------------------------------------------------------------


def cows_scores_totalling(total: int) -> dict[str, int]:
    """Any set of allowed COWS scores summing to `total` (depth-first, largest values first)."""

    def fill(items: list[str], remaining: int) -> dict[str, int] | None:
        if not items:
            return {} if remaining == 0 else None
        first, rest = items[0], items[1:]
        for value in sorted(COWS_ALLOWED[first], reverse=True):
            if value <= remaining and (found := fill(rest, remaining - value)) is not None:
                return {first: value, **found}
        return None

    scores = fill(list(COWS_ALLOWED), total)
    assert scores is not None, f"could not build a COWS total of {total}"
    return scores


def cows_band_oracle(total: int) -> tuple[str, RiskLevel]:
    if total < 5:
        return "none", LOW
    if total <= 12:
        return "mild", LOW
    if total <= 24:
        return "moderate", MODERATE
    if total <= 36:
        return "moderately_severe", HIGH
    return "severe", HIGH


@pytest.mark.parametrize("total", range(49))
def test_cows_every_total_falls_in_the_spec_band(total: int) -> None:
    result = score_cows(cows_scores_totalling(total))
    assert result.instrument == Instrument.COWS
    assert result.total == total
    assert (result.band, result.risk_level) == cows_band_oracle(total)


@pytest.mark.parametrize(
    ("total", "band", "risk"),
    [
        (4, "none", LOW),
        (5, "mild", LOW),
        (12, "mild", LOW),
        (13, "moderate", MODERATE),
        (24, "moderate", MODERATE),
        (25, "moderately_severe", HIGH),
        (36, "moderately_severe", HIGH),
        (37, "severe", HIGH),
        (48, "severe", HIGH),
    ],
)
def test_cows_band_boundaries(total: int, band: str, risk: RiskLevel) -> None:
    result = score_cows(cows_scores_totalling(total))
    assert (result.total, result.band, result.risk_level) == (total, band, risk)


def test_cows_maximum_scores_total_48() -> None:
    result = score_cows({item: max(allowed) for item, allowed in COWS_ALLOWED.items()})
    assert (result.total, result.band) == (48, "severe")


SPEC_COWS_VALUES = {
    "resting_pulse": {0, 1, 2, 4},
    "sweating": {0, 1, 2, 3, 4},
    "restlessness": {0, 1, 3, 5},
    "pupil_size": {0, 1, 2, 5},
    "bone_joint_aches": {0, 1, 2, 4},
    "runny_nose_tearing": {0, 1, 2, 4},
    "gi_upset": {0, 1, 2, 3, 5},
    "tremor": {0, 1, 2, 4},
    "yawning": {0, 1, 2, 4},
    "anxiety_irritability": {0, 1, 2, 4},
    "gooseflesh": {0, 3, 5},
}


@pytest.mark.parametrize(
    ("item", "value"),
    [(item, value) for item in SPEC_COWS_VALUES for value in range(-1, 7)],
)
def test_cows_each_value_from_minus_one_to_six_is_accepted_only_if_the_scale_allows_it(
    item: str, value: int
) -> None:
    scores = dict.fromkeys(SPEC_COWS_VALUES, 0)
    scores[item] = value
    if value in SPEC_COWS_VALUES[item]:
        assert score_cows(scores).total == value
        return
    with pytest.raises(InstrumentError) as caught:
        score_cows(scores)
    assert caught.value.field == f"scores.{item}"
    assert item in caught.value.message
    allowed = sorted(SPEC_COWS_VALUES[item])
    if allowed == list(range(allowed[0], allowed[-1] + 1)):
        assert f"{allowed[0]}-{allowed[-1]}" in caught.value.message
    else:
        assert ", ".join(map(str, allowed)) in caught.value.message


@pytest.mark.parametrize("item", SPEC_COWS_VALUES)
@pytest.mark.parametrize("value", [True, False, 1.0, "1"])
def test_cows_non_integer_value_is_refused(item: str, value: object) -> None:
    scores: dict[str, object] = dict.fromkeys(SPEC_COWS_VALUES, 0)
    scores[item] = value
    with pytest.raises(InstrumentError) as caught:
        score_cows(scores)  # type: ignore[arg-type]
    assert caught.value.field == f"scores.{item}"


@pytest.mark.parametrize("item", SPEC_COWS_VALUES)
def test_cows_every_item_is_required(item: str) -> None:
    scores = dict.fromkeys(SPEC_COWS_VALUES, 0)
    del scores[item]
    with pytest.raises(InstrumentError) as caught:
        score_cows(scores)
    assert caught.value.field == f"scores.{item}"


def test_cows_unknown_item_is_named() -> None:
    scores = dict.fromkeys(SPEC_COWS_VALUES, 0)
    scores["cravings"] = 2
    with pytest.raises(InstrumentError) as caught:
        score_cows(scores)
    assert caught.value.field == "scores.cravings"


def test_cows_custom_bands_change_the_result() -> None:
    two_bands = ScoreBands(
        bands=(
            Band(min_total=0, label="quiet", risk=LOW),
            Band(min_total=20, label="loud", risk=HIGH),
        )
    )
    scores = cows_scores_totalling(20)
    assert score_cows(scores).risk_level == MODERATE
    result = score_cows(scores, two_bands)
    assert (result.band, result.risk_level) == ("loud", HIGH)


# --- overdose signs -----------------------------------------------------------------------------

SPEC_IMMINENT_SIGNS = {
    "unresponsive",
    "slow_breathing",
    "no_breathing",
    "blue_lips_or_nails",
    "gurgling",
}
SPEC_OTHER_SIGNS = {"pinpoint_pupils", "vomiting", "confusion", "clammy_skin", "faint_pulse"}


@pytest.mark.parametrize("sign", sorted(SPEC_IMMINENT_SIGNS | SPEC_OTHER_SIGNS))
def test_overdose_each_sign_alone(sign: str) -> None:
    result = score_overdose_signs([sign])
    assert result.instrument == Instrument.OVERDOSE_SIGNS
    assert result.risk_level == (IMMINENT if sign in SPEC_IMMINENT_SIGNS else HIGH)
    assert result.findings == (sign,)


def test_overdose_no_signs_is_moderate() -> None:
    result = score_overdose_signs([])
    assert (result.risk_level, result.findings) == (MODERATE, ())


def test_overdose_every_set_of_signs_matches_the_spec() -> None:
    every_sign = sorted(SPEC_IMMINENT_SIGNS | SPEC_OTHER_SIGNS)
    mismatches = []
    for size in range(len(every_sign) + 1):
        for chosen in itertools.combinations(every_sign, size):
            present = set(chosen)
            if present & SPEC_IMMINENT_SIGNS:
                expected, drivers = IMMINENT, present & SPEC_IMMINENT_SIGNS
            elif present:
                expected, drivers = HIGH, present
            else:
                expected, drivers = MODERATE, set()
            result = score_overdose_signs(list(reversed(chosen)))
            if result.risk_level != expected or set(result.findings) != drivers:
                mismatches.append((chosen, expected, result))
    assert mismatches == []


def test_overdose_unknown_sign_is_refused() -> None:
    with pytest.raises(InstrumentError) as caught:
        score_overdose_signs(["vomiting", "seizure"])
    assert caught.value.field == "signs"
    assert "seizure" in caught.value.message


def test_overdose_duplicate_sign_is_refused() -> None:
    with pytest.raises(InstrumentError) as caught:
        score_overdose_signs(["vomiting", "gurgling", "vomiting"])
    assert caught.value.field == "signs"
    assert "vomiting" in caught.value.message


def test_overdose_a_bare_string_is_not_a_list_of_signs() -> None:
    with pytest.raises(InstrumentError) as caught:
        score_overdose_signs("unresponsive")
    assert caught.value.field == "signs"


# --- score bands validate themselves ------------------------------------------------------------


def test_default_bands_are_the_spec_thresholds() -> None:
    assert [(b.min_total, b.label, b.risk) for b in DEFAULT_CIWA_AR_BANDS.bands] == [
        (0, "mild", LOW),
        (10, "moderate", MODERATE),
        (19, "severe", HIGH),
    ]
    assert [(b.min_total, b.label, b.risk) for b in DEFAULT_COWS_BANDS.bands] == [
        (0, "none", LOW),
        (5, "mild", LOW),
        (13, "moderate", MODERATE),
        (25, "moderately_severe", HIGH),
        (37, "severe", HIGH),
    ]


@pytest.mark.parametrize(
    "bands",
    [
        pytest.param((), id="empty"),
        pytest.param(((5, LOW), (10, MODERATE)), id="first-not-zero"),
        pytest.param(((0, LOW), (10, MODERATE), (10, HIGH)), id="repeated-threshold"),
        pytest.param(((0, LOW), (12, MODERATE), (10, HIGH)), id="decreasing-threshold"),
        pytest.param(((0, LOW), (10, HIGH), (20, MODERATE)), id="risk-goes-down"),
        pytest.param(((0, LOW), (10, IMMINENT)), id="imminent-from-a-score"),
    ],
)
def test_malformed_bands_are_refused(bands: tuple[tuple[int, RiskLevel], ...]) -> None:
    with pytest.raises(ValidationError):
        ScoreBands(
            bands=tuple(
                Band(min_total=minimum, label=f"band{n}", risk=risk)
                for n, (minimum, risk) in enumerate(bands)
            )
        )


def test_band_threshold_must_be_a_real_integer() -> None:
    with pytest.raises(ValidationError):
        Band(min_total=True, label="x", risk=LOW)
    with pytest.raises(ValidationError):
        Band(min_total=-1, label="x", risk=LOW)


def test_bands_load_from_protocol_data() -> None:
    loaded = ScoreBands.model_validate(
        {
            "bands": [
                {"min_total": 0, "label": "a", "risk": "low"},
                {"min_total": 3, "label": "b", "risk": "high"},
            ]
        }
    )
    assert loaded.classify(2).label == "a"
    assert loaded.classify(3).risk == HIGH


def test_classify_refuses_a_negative_total() -> None:
    with pytest.raises(ValueError, match="negative"):
        DEFAULT_COWS_BANDS.classify(-1)
