"""The assessment instruments as forms: items, labels, allowed values and risk bands."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentStaff
from domain.instrument_catalog import CATALOG, InstrumentEntry
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Instrument

router = APIRouter(prefix="/v1", tags=["instruments"])


class InstrumentList(BaseModel):
    data: list[InstrumentEntry]
    count: int


def instrument_catalog(crisis_type: CrisisType | None = None) -> InstrumentList:
    """Every instrument; with a crisis type, that protocol's instruments with its own bands."""
    if crisis_type is None:
        entries = list(CATALOG.values())
    else:
        protocol = protocol_for(crisis_type)
        bands = {Instrument.CIWA_AR: protocol.ciwa_ar_bands, Instrument.COWS: protocol.cows_bands}
        entries = [
            CATALOG[i].model_copy(update={"bands": bands[i].bands}) if i in bands else CATALOG[i]
            for i in protocol.instruments
        ]
    return InstrumentList(data=entries, count=len(entries))


@router.get("/instruments")
async def list_instruments(
    _: CurrentStaff, crisis_type: CrisisType | None = None
) -> InstrumentList:
    """Each instrument's items (name, label, allowed values), the assessment field they go in
    (`answers`, `scores` or `signs`) and how the result reads as a risk.

    With `crisis_type`, only that protocol's instruments, with its score bands."""
    return instrument_catalog(crisis_type)
