"""Psychosis: clinical judgement; mobile crisis is the usual dispatch."""

from datetime import timedelta  # noqa: F401

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.PSYCHOSIS,
    version="psychosis/2026-11.1",
    instruments=(Instrument.CLINICAL_JUDGEMENT,),
)
