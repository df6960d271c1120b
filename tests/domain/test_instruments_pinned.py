"""Instrument scoring pinned to SPEC section 2: bands and refusals written as the spec states them.

The bands below are the spec's defaults, typed here, never read from domain/instruments.py; each
refusal is checked for the item it names and the words a clinician reads in the 422.
"""

from collections.abc import Mapping

import pytest

from domain.instruments import (
    InstrumentError,
    score_ciwa_ar,
    score_cows,
    score_cssrs_screener,
    score_overdose_signs,
)
from domain.vocabulary import RiskLevel

CIWA_ITEMS_0_7 = (
    "nausea_vomiting",
    "tremor",
    "paroxysmal_sweats",
    "anxiety",
    "agitation",
    "tactile_disturbances",
    "auditory_disturbances",
    "visual_disturbances",
    "headache",
)
# SPEC 2: < 10 mild -> low, 10-18 moderate -> moderate, >= 19 severe -> high.
CIWA_BANDS = [
    (0, "mild", RiskLevel.LOW),
    (9, "mild", RiskLevel.LOW),
    (10, "moderate", RiskLevel.MODERATE),
    (18, "moderate", RiskLevel.MODERATE),
    (19, "severe", RiskLevel.HIGH),
    (67, "severe", RiskLevel.HIGH),
]
# SPEC 2: < 5 none, 5-12 mild -> low; 13-24 moderate; 25-36 moderately severe, > 36 severe -> high.
COWS_BANDS = [
    (0, "none", RiskLevel.LOW),
    (4, "none", RiskLevel.LOW),
    (5, "mild", RiskLevel.LOW),
    (12, "mild", RiskLevel.LOW),
    (13, "moderate", RiskLevel.MODERATE),
    (24, "moderate", RiskLevel.MODERATE),
    (25, "moderately_severe", RiskLevel.HIGH),
    (36, "moderately_severe", RiskLevel.HIGH),
    (37, "severe", RiskLevel.HIGH),
    (48, "severe", RiskLevel.HIGH),
]
COWS_ALLOWED_BY_SPEC: Mapping[str, tuple[int, ...]] = {
    "resting_pulse": (0, 1, 2, 4),
    "sweating": (0, 1, 2, 3, 4),
    "restlessness": (0, 1, 3, 5),
    "pupil_size": (0, 1, 2, 5),
    "bone_joint_aches": (0, 1, 2, 4),
    "runny_nose_tearing": (0, 1, 2, 4),
    "gi_upset": (0, 1, 2, 3, 5),
    "tremor": (0, 1, 2, 4),
    "yawning": (0, 1, 2, 4),
    "anxiety_irritability": (0, 1, 2, 4),
    "gooseflesh": (0, 3, 5),
}
NO_TO_ALL = {"wish_dead": False, "suicidal_thoughts": False, "behavior": False}


def ciwa_scores(total: int) -> dict[str, int]:
    scores = dict.fromkeys(CIWA_ITEMS_0_7, 0) | {"orientation": 0}
    for item in scores:
        top = 4 if item == "orientation" else 7
        scores[item] = min(top, total - sum(scores.values()))
    return scores


def cows_scores(total: int) -> dict[str, int]:
    """A valid COWS answer summing to `total`, greedy from each item's largest allowed value."""
    scores = dict.fromkeys(COWS_ALLOWED_BY_SPEC, 0)
    for item, values in COWS_ALLOWED_BY_SPEC.items():
        left = total - sum(scores.values())
        scores[item] = max(value for value in values if value <= left)
    assert sum(scores.values()) == total
    return scores


def refusal(call: object, *args: object) -> InstrumentError:
    assert callable(call)
    with pytest.raises(InstrumentError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(("total", "band", "risk"), CIWA_BANDS)
def test_ciwa_ar_bands_are_the_spec_defaults(total: int, band: str, risk: RiskLevel) -> None:
    result = score_ciwa_ar(ciwa_scores(total))
    assert (result.total, result.band, result.risk_level) == (total, band, risk)


@pytest.mark.parametrize(("total", "band", "risk"), COWS_BANDS)
def test_cows_bands_are_the_spec_defaults(total: int, band: str, risk: RiskLevel) -> None:
    result = score_cows(cows_scores(total))
    assert (result.total, result.band, result.risk_level) == (total, band, risk)


def test_ciwa_ar_refusals_name_the_scale() -> None:
    unknown = refusal(score_ciwa_ar, ciwa_scores(0) | {"pulse": 1})
    assert (unknown.field, unknown.message) == (
        "scores.pulse",
        "not a CIWA-Ar item; its items: nausea_vomiting, tremor, paroxysmal_sweats, anxiety, "
        "agitation, tactile_disturbances, auditory_disturbances, visual_disturbances, headache, "
        "orientation",
    )
    missing = {k: v for k, v in ciwa_scores(0).items() if k != "headache"}
    absent = refusal(score_ciwa_ar, missing)
    assert (absent.field, absent.message) == ("scores.headache", "is required")
    over = refusal(score_ciwa_ar, ciwa_scores(0) | {"orientation": 5})
    assert over.field == "scores.orientation"
    assert over.message == "5 is not a CIWA-Ar score for orientation; allowed: 0-4"


def test_cows_refusals_name_the_scale_and_its_allowed_values() -> None:
    unknown = refusal(score_cows, cows_scores(0) | {"pulse": 1})
    assert (unknown.field, unknown.message) == (
        "scores.pulse",
        "not a COWS item; its items: resting_pulse, sweating, restlessness, pupil_size, "
        "bone_joint_aches, runny_nose_tearing, gi_upset, tremor, yawning, anxiety_irritability, "
        "gooseflesh",
    )
    gap = refusal(score_cows, cows_scores(0) | {"gooseflesh": 1})
    assert gap.field == "scores.gooseflesh"
    assert gap.message == "1 is not a COWS score for gooseflesh; allowed: 0, 3, 5"
    flag = refusal(score_cows, cows_scores(0) | {"sweating": True})
    assert flag.message == "True is not a COWS score for sweating; allowed: 0-4"


def test_cssrs_refusals_say_why() -> None:
    cases = [
        (
            NO_TO_ALL | {"mood": True},
            "answers.mood",
            "not a C-SSRS screener item; its items: wish_dead, suicidal_thoughts, method, "
            "intent, plan, behavior, behavior_past_3_months",
        ),
        (NO_TO_ALL | {"wish_dead": "yes"}, "answers.wish_dead", "must be true or false"),
        ({"wish_dead": False, "behavior": False}, "answers.suicidal_thoughts", "is required"),
        (
            NO_TO_ALL | {"suicidal_thoughts": True, "method": False, "intent": False},
            "answers.plan",
            "is required when suicidal_thoughts is true",
        ),
        (
            NO_TO_ALL | {"intent": True},
            "answers.intent",
            "is only asked when suicidal_thoughts is true",
        ),
        (
            NO_TO_ALL | {"behavior": True},
            "answers.behavior_past_3_months",
            "is required when behavior is true",
        ),
        (
            NO_TO_ALL | {"behavior_past_3_months": True},
            "answers.behavior_past_3_months",
            "is only asked when behavior is true",
        ),
    ]
    for answers, field, message in cases:
        error = refusal(score_cssrs_screener, answers)
        assert (error.field, error.message) == (field, message)


def test_cssrs_follow_ups_answered_no_are_accepted_without_suicidal_thoughts() -> None:
    answers = NO_TO_ALL | {"method": False, "behavior_past_3_months": False}
    assert score_cssrs_screener(answers).risk_level is RiskLevel.LOW


@pytest.mark.parametrize(
    ("yes", "risk", "findings"),
    [
        ((), RiskLevel.LOW, ()),
        (("wish_dead",), RiskLevel.LOW, ("wish_dead",)),
        (("suicidal_thoughts",), RiskLevel.LOW, ("suicidal_thoughts",)),
        (("suicidal_thoughts", "method"), RiskLevel.MODERATE, ("method",)),
        (("behavior",), RiskLevel.MODERATE, ("behavior",)),
        (("suicidal_thoughts", "intent"), RiskLevel.HIGH, ("intent",)),
        (("suicidal_thoughts", "plan"), RiskLevel.HIGH, ("plan",)),
        (("behavior", "behavior_past_3_months"), RiskLevel.HIGH, ("behavior_past_3_months",)),
    ],
)
def test_cssrs_levels_are_the_spec_rows(
    yes: tuple[str, ...], risk: RiskLevel, findings: tuple[str, ...]
) -> None:
    answers = dict(NO_TO_ALL)
    if "suicidal_thoughts" in yes:
        answers |= {"method": False, "intent": False, "plan": False}
    if "behavior" in yes:
        answers["behavior_past_3_months"] = False
    answers |= dict.fromkeys(yes, True)
    result = score_cssrs_screener(answers)
    assert (result.risk_level, result.findings) == (risk, findings)


def test_an_unknown_overdose_sign_is_refused_naming_the_signs() -> None:
    error = refusal(score_overdose_signs, ["vomiting", "sweating"])
    assert (error.field, error.message) == (
        "signs",
        "'sweating' is not an overdose sign; the signs: unresponsive, slow_breathing, "
        "no_breathing, blue_lips_or_nails, gurgling, pinpoint_pupils, vomiting, confusion, "
        "clammy_skin, faint_pulse",
    )


def test_overdose_signs_refuse_a_single_string() -> None:
    error = refusal(score_overdose_signs, "vomiting")
    assert error.field == "signs"
    assert error.message == "must be a list of signs, not a single string"


@pytest.mark.parametrize(
    ("signs", "risk"),
    [
        ([], RiskLevel.MODERATE),
        (
            ["pinpoint_pupils", "vomiting", "confusion", "clammy_skin", "faint_pulse"],
            RiskLevel.HIGH,
        ),
        *[
            ([sign], RiskLevel.IMMINENT)
            for sign in (
                "unresponsive",
                "slow_breathing",
                "no_breathing",
                "blue_lips_or_nails",
                "gurgling",
            )
        ],
    ],
)
def test_overdose_levels_are_the_spec_rows(signs: list[str], risk: RiskLevel) -> None:
    assert score_overdose_signs(signs).risk_level is risk
