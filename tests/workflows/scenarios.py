"""Decision bodies that walk each crisis type through its protocol, shared by several tests."""

from __future__ import annotations

from typing import Any

from domain.vocabulary import CrisisType

SAFETY_PLAN = {
    "warning_signs": ["isolating", "not sleeping"],
    "internal_coping": ["paced breathing"],
    "social_distractions": ["call cousin", "coffee shop"],
    "people_to_ask": ["sister Lia"],
    "professionals": ["IOP clinician", "988"],
    "means_safety": ["medications locked by sister"],
}

CSSRS_MODERATE = {
    "kind": "assessment",
    "instrument": "cssrs_screener",
    "answers": {
        "wish_dead": True,
        "suicidal_thoughts": True,
        "method": True,
        "intent": False,
        "plan": False,
        "behavior": False,
    },
}
CIWA_MILD = {
    "kind": "assessment",
    "instrument": "ciwa_ar",
    "scores": {
        "nausea_vomiting": 1,
        "tremor": 1,
        "paroxysmal_sweats": 1,
        "anxiety": 2,
        "agitation": 1,
        "tactile_disturbances": 0,
        "auditory_disturbances": 0,
        "visual_disturbances": 0,
        "headache": 1,
        "orientation": 0,
    },
}
OVERDOSE_IMMINENT = {
    "kind": "assessment",
    "instrument": "overdose_signs",
    "signs": ["slow_breathing", "pinpoint_pupils"],
}
JUDGED_MODERATE = {
    "kind": "assessment",
    "instrument": "clinical_judgement",
    "risk_override": "moderate",
    "justification": "Calmer after ten minutes, oriented, future-oriented talk",
}

CIWA_SEVERE = {  # CIWA-Ar total 26: severe alcohol withdrawal, risk high
    "kind": "assessment",
    "instrument": "ciwa_ar",
    "scores": {
        "nausea_vomiting": 4,
        "tremor": 4,
        "paroxysmal_sweats": 4,
        "anxiety": 4,
        "agitation": 4,
        "tactile_disturbances": 2,
        "auditory_disturbances": 1,
        "visual_disturbances": 1,
        "headache": 1,
        "orientation": 1,
    },
}
ASSESSMENTS: dict[CrisisType, dict[str, Any]] = {
    CrisisType.SUICIDAL_IDEATION: CSSRS_MODERATE,
    CrisisType.SELF_HARM: CSSRS_MODERATE,
    CrisisType.PANIC: JUDGED_MODERATE,
    CrisisType.PSYCHOSIS: JUDGED_MODERATE,
    CrisisType.MEDICAL: JUDGED_MODERATE,
    CrisisType.INTOXICATION: OVERDOSE_IMMINENT,
    CrisisType.WITHDRAWAL: CIWA_MILD,
    CrisisType.OVERDOSE: OVERDOSE_IMMINENT,
    CrisisType.OTHER: JUDGED_MODERATE,
}

DEESCALATED = {"kind": "deescalation", "techniques": ["grounding"], "outcome": "resolved"}
DISPATCH_911 = {
    "kind": "dispatch",
    "service": "911",
    "reason": "Slowed breathing on video",
    "reference": "PSAP-2211",
}


def disposition(with_safety_plan: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "disposition", "outcome": "remained_home_with_safety_plan"}
    if with_safety_plan:
        body["safety_plan"] = SAFETY_PLAN
    return body
