"""Panic: clinical judgement; most settle with grounding and paced breathing."""

from datetime import timedelta

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.PANIC,
    version="panic/2026-11.1",
    instruments=(Instrument.CLINICAL_JUDGEMENT,),
    assessment_window=timedelta(minutes=10),
)
