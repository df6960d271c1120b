"""Overdose: the sign checklist; any airway sign is imminent and needs 911 within minutes."""

from datetime import timedelta

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument, RiskLevel

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.OVERDOSE,
    version="overdose/2026-11.1",
    instruments=(Instrument.OVERDOSE_SIGNS, Instrument.CLINICAL_JUDGEMENT),
    assessment_window=timedelta(minutes=2),
    dispatch_window=timedelta(minutes=1),
    dispatch_required_at=RiskLevel.HIGH,
)
