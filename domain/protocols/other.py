"""Any other crisis, and every SOS until assessed: every instrument is available."""

from datetime import timedelta  # noqa: F401

from domain.protocols.base import CrisisProtocol
from domain.vocabulary import CrisisType, Instrument

PROTOCOL = CrisisProtocol(
    crisis_type=CrisisType.OTHER,
    version="other/2026-11.1",
    instruments=tuple(Instrument),
)
