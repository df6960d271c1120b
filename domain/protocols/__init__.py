"""Crisis protocols as data: one module per crisis type, each a frozen `CrisisProtocol`.

An incident freezes its protocol when it opens (the whole protocol travels in the workflow's
start input), so editing a module here never changes an incident in flight.
"""

from domain.protocols import (
    intoxication,
    medical,
    other,
    overdose,
    panic,
    psychosis,
    self_harm,
    suicidal_ideation,
    withdrawal,
)
from domain.protocols.base import CrisisProtocol, EscalationPolicy
from domain.vocabulary import CrisisType

PROTOCOLS: dict[CrisisType, CrisisProtocol] = {
    module.PROTOCOL.crisis_type: module.PROTOCOL
    for module in (
        suicidal_ideation,
        self_harm,
        panic,
        psychosis,
        medical,
        intoxication,
        withdrawal,
        overdose,
        other,
    )
}


def protocol_for(crisis_type: CrisisType) -> CrisisProtocol:
    return PROTOCOLS[crisis_type]


__all__ = ["PROTOCOLS", "CrisisProtocol", "EscalationPolicy", "protocol_for"]
