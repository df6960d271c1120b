"""Intoxication: overdose signs first; 42 CFR Part 2 limits disclosure."""

from datetime import timedelta

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.INTOXICATION,
    version="intoxication/2026-11.1",
    instruments=(Instrument.OVERDOSE_SIGNS, Instrument.CLINICAL_JUDGEMENT),
    assessment_window=timedelta(minutes=3),
)
