"""Suicidal ideation: C-SSRS screen, Stanley-Brown safety plan at disposition."""

from datetime import timedelta  # noqa: F401

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.SUICIDAL_IDEATION,
    version="suicidal_ideation/2026-11.1",
    instruments=(Instrument.CSSRS_SCREENER, Instrument.CLINICAL_JUDGEMENT),
    requires_safety_plan=True,
)
