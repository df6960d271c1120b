"""Scoring of the assessment instruments (SPEC section 2): C-SSRS screener, CIWA-Ar, COWS and
the overdose sign checklist. Pure functions: answers in, an `InstrumentResult` out, or an
`InstrumentError` that names the offending item. Score bands are data so a protocol can tune them.
"""

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Self

from pydantic import BaseModel, Field, model_validator

from domain.vocabulary import Instrument, RiskLevel


class InstrumentError(ValueError):
    """Bad instrument input; `field` names the offending item (e.g. 'scores.tremor')."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Band(BaseModel, frozen=True):
    """From `min_total` up to the next band's `min_total`, the total reads as `label`."""

    min_total: Annotated[int, Field(strict=True, ge=0)]
    label: Annotated[str, Field(min_length=1)]
    risk: RiskLevel


class ScoreBands(BaseModel, frozen=True):
    """Total-score thresholds of a scale, lowest band first."""

    bands: Annotated[tuple[Band, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _bands_cover_all_totals_in_order(self) -> Self:
        if self.bands[0].min_total != 0:
            raise ValueError("the first band must start at a total of 0")
        for lower, upper in zip(self.bands, self.bands[1:], strict=False):
            if upper.min_total <= lower.min_total:
                raise ValueError("band min_total values must be strictly increasing")
            if upper.risk.rank < lower.risk.rank:
                raise ValueError("a higher band must not give a lower risk level")
        # SPEC: only an overdose sign or a clinician override gives imminent.
        if any(band.risk is RiskLevel.IMMINENT for band in self.bands):
            raise ValueError("a score band must not give imminent risk")
        return self

    def classify(self, total: int) -> Band:
        if total < 0:
            raise ValueError(f"a total cannot be negative, got {total}")
        return [band for band in self.bands if band.min_total <= total][-1]


DEFAULT_CIWA_AR_BANDS = ScoreBands(
    bands=(
        Band(min_total=0, label="mild", risk=RiskLevel.LOW),
        Band(min_total=10, label="moderate", risk=RiskLevel.MODERATE),
        Band(min_total=19, label="severe", risk=RiskLevel.HIGH),
    )
)

DEFAULT_COWS_BANDS = ScoreBands(
    bands=(
        Band(min_total=0, label="none", risk=RiskLevel.LOW),
        Band(min_total=5, label="mild", risk=RiskLevel.LOW),
        Band(min_total=13, label="moderate", risk=RiskLevel.MODERATE),
        Band(min_total=25, label="moderately_severe", risk=RiskLevel.HIGH),
        Band(min_total=37, label="severe", risk=RiskLevel.HIGH),
    )
)


class InstrumentResult(BaseModel, frozen=True):
    instrument: Instrument
    risk_level: RiskLevel
    total: int | None = None
    band: str | None = None
    findings: tuple[str, ...] = ()


CSSRS_ITEMS: tuple[str, ...] = (
    "wish_dead",
    "suicidal_thoughts",
    "method",
    "intent",
    "plan",
    "behavior",
    "behavior_past_3_months",
)
CSSRS_REQUIRED = ("wish_dead", "suicidal_thoughts", "behavior")
# Asked only when suicidal_thoughts is yes.
CSSRS_THOUGHT_FOLLOWUPS = ("method", "intent", "plan")

CIWA_AR_ITEMS: Mapping[str, int] = MappingProxyType(
    {
        "nausea_vomiting": 7,
        "tremor": 7,
        "paroxysmal_sweats": 7,
        "anxiety": 7,
        "agitation": 7,
        "tactile_disturbances": 7,
        "auditory_disturbances": 7,
        "visual_disturbances": 7,
        "headache": 7,
        "orientation": 4,
    }
)

COWS_ALLOWED: Mapping[str, frozenset[int]] = MappingProxyType(
    {
        "resting_pulse": frozenset({0, 1, 2, 4}),
        "sweating": frozenset({0, 1, 2, 3, 4}),
        "restlessness": frozenset({0, 1, 3, 5}),
        "pupil_size": frozenset({0, 1, 2, 5}),
        "bone_joint_aches": frozenset({0, 1, 2, 4}),
        "runny_nose_tearing": frozenset({0, 1, 2, 4}),
        "gi_upset": frozenset({0, 1, 2, 3, 5}),
        "tremor": frozenset({0, 1, 2, 4}),
        "yawning": frozenset({0, 1, 2, 4}),
        "anxiety_irritability": frozenset({0, 1, 2, 4}),
        "gooseflesh": frozenset({0, 3, 5}),
    }
)

OVERDOSE_SIGNS: tuple[str, ...] = (
    "unresponsive",
    "slow_breathing",
    "no_breathing",
    "blue_lips_or_nails",
    "gurgling",
    "pinpoint_pupils",
    "vomiting",
    "confusion",
    "clammy_skin",
    "faint_pulse",
)
IMMINENT_OVERDOSE_SIGNS: frozenset[str] = frozenset(OVERDOSE_SIGNS[:5])


def score_cssrs_screener(answers: Mapping[str, bool]) -> InstrumentResult:
    """C-SSRS screener: the highest level any yes-answer reaches; never imminent."""
    for item, value in answers.items():
        if item not in CSSRS_ITEMS:
            raise InstrumentError(
                f"answers.{item}",
                f"not a C-SSRS screener item; its items: {', '.join(CSSRS_ITEMS)}",
            )
        if not isinstance(value, bool):
            raise InstrumentError(f"answers.{item}", "must be true or false")
    for item in CSSRS_REQUIRED:
        if item not in answers:
            raise InstrumentError(f"answers.{item}", "is required")
    for item in CSSRS_THOUGHT_FOLLOWUPS:
        if answers["suicidal_thoughts"]:
            if item not in answers:
                raise InstrumentError(
                    f"answers.{item}", "is required when suicidal_thoughts is true"
                )
        elif answers.get(item, False):
            raise InstrumentError(f"answers.{item}", "is only asked when suicidal_thoughts is true")
    if answers["behavior"]:
        if "behavior_past_3_months" not in answers:
            raise InstrumentError(
                "answers.behavior_past_3_months", "is required when behavior is true"
            )
    elif answers.get("behavior_past_3_months", False):
        raise InstrumentError(
            "answers.behavior_past_3_months", "is only asked when behavior is true"
        )

    def yes(item: str) -> bool:
        return answers.get(item, False)

    recent_behavior = yes("behavior") and yes("behavior_past_3_months")
    older_behavior = yes("behavior") and not yes("behavior_past_3_months")
    high = [item for item in ("intent", "plan") if yes(item)]
    if recent_behavior:
        high.append("behavior_past_3_months")
    moderate = ["method"] if yes("method") else []
    if older_behavior:
        moderate.append("behavior")
    low = [item for item in ("wish_dead", "suicidal_thoughts") if yes(item)]

    if high:
        risk, findings = RiskLevel.HIGH, high
    elif moderate:
        risk, findings = RiskLevel.MODERATE, moderate
    else:
        risk, findings = RiskLevel.LOW, low
    return InstrumentResult(
        instrument=Instrument.CSSRS_SCREENER, risk_level=risk, findings=tuple(findings)
    )


def score_ciwa_ar(
    scores: Mapping[str, int], bands: ScoreBands = DEFAULT_CIWA_AR_BANDS
) -> InstrumentResult:
    """CIWA-Ar: the sum of all ten items, read through the bands."""
    allowed = {item: frozenset(range(top + 1)) for item, top in CIWA_AR_ITEMS.items()}
    total = _scale_total(scores, allowed, "CIWA-Ar")
    band = bands.classify(total)
    return InstrumentResult(
        instrument=Instrument.CIWA_AR, risk_level=band.risk, total=total, band=band.label
    )


def score_cows(
    scores: Mapping[str, int], bands: ScoreBands = DEFAULT_COWS_BANDS
) -> InstrumentResult:
    """COWS: the sum of all eleven items, each one of the scale's own values, read through bands."""
    total = _scale_total(scores, COWS_ALLOWED, "COWS")
    band = bands.classify(total)
    return InstrumentResult(
        instrument=Instrument.COWS, risk_level=band.risk, total=total, band=band.label
    )


def score_overdose_signs(signs: Sequence[str]) -> InstrumentResult:
    """Overdose checklist: a sign of failing breathing or consciousness is imminent."""
    if isinstance(signs, str):
        raise InstrumentError("signs", "must be a list of signs, not a single string")
    seen: set[str] = set()
    for sign in signs:
        if sign not in OVERDOSE_SIGNS:
            raise InstrumentError(
                "signs", f"{sign!r} is not an overdose sign; the signs: {', '.join(OVERDOSE_SIGNS)}"
            )
        if sign in seen:
            raise InstrumentError("signs", f"{sign!r} is listed more than once")
        seen.add(sign)
    imminent = [sign for sign in OVERDOSE_SIGNS if sign in seen & IMMINENT_OVERDOSE_SIGNS]
    if imminent:
        risk, findings = RiskLevel.IMMINENT, imminent
    elif seen:
        risk, findings = RiskLevel.HIGH, [sign for sign in OVERDOSE_SIGNS if sign in seen]
    else:
        risk, findings = RiskLevel.MODERATE, []
    return InstrumentResult(
        instrument=Instrument.OVERDOSE_SIGNS, risk_level=risk, findings=tuple(findings)
    )


def _scale_total(
    scores: Mapping[str, int], allowed: Mapping[str, frozenset[int]], scale: str
) -> int:
    for item in scores:
        if item not in allowed:
            raise InstrumentError(
                f"scores.{item}", f"not a {scale} item; its items: {', '.join(allowed)}"
            )
    for item, values in allowed.items():
        if item not in scores:
            raise InstrumentError(f"scores.{item}", "is required")
        value = scores[item]
        # bool is a subclass of int, but True is not a score.
        if isinstance(value, bool) or not isinstance(value, int) or value not in values:
            raise InstrumentError(
                f"scores.{item}",
                f"{value!r} is not a {scale} score for {item}; allowed: {_describe(values)}",
            )
    return sum(scores.values())


def _describe(values: frozenset[int]) -> str:
    ordered = sorted(values)
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(str(value) for value in ordered)
