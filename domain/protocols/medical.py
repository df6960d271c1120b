"""Medical emergency: a short assessment window; 911 is the usual dispatch."""

from datetime import timedelta

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument, RiskLevel

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.MEDICAL,
    version="medical/2026-11.1",
    instruments=(Instrument.CLINICAL_JUDGEMENT,),
    assessment_window=timedelta(minutes=2),
    dispatch_required_at=RiskLevel.HIGH,
)
