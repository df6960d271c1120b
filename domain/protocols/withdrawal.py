"""Withdrawal: CIWA-Ar for alcohol, COWS for opioids; 42 CFR Part 2 limits disclosure."""

from datetime import timedelta  # noqa: F401

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.WITHDRAWAL,
    version="withdrawal/2026-11.1",
    instruments=(Instrument.CIWA_AR, Instrument.COWS, Instrument.CLINICAL_JUDGEMENT),
)
