"""Self-harm: C-SSRS screen, safety plan at disposition, medical triage by dispatch."""

from datetime import timedelta  # noqa: F401

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.SELF_HARM,
    version="self_harm/2026-11.1",
    instruments=(Instrument.CSSRS_SCREENER, Instrument.CLINICAL_JUDGEMENT),
    requires_safety_plan=True,
)
