"""What a client who pressed SOS is shown whatever else happens: 911, 988 and the program's nearest
crisis line or centre to where the client is (when the location can be placed)."""

from __future__ import annotations

import asyncio
import uuid

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.geo import Coordinates, locate
from domain.location import Location
from domain.vocabulary import ResourceKind
from infra.directory import nearest_resources


class CrisisNumber(BaseModel):
    name: str
    phone: str
    distance_km: float | None = None


EMERGENCY_NUMBERS = (
    CrisisNumber(name="Emergency services", phone="911"),
    CrisisNumber(name="988 Suicide & Crisis Lifeline", phone="988"),
)


async def crisis_numbers(
    session: AsyncSession, program_id: uuid.UUID, location: Location | None
) -> list[CrisisNumber]:
    """911 and 988, then the nearest crisis line or centre of the program."""
    numbers = list(EMERGENCY_NUMBERS)
    origin: Coordinates | None = (
        await asyncio.to_thread(locate, location) if location is not None else None
    )
    if origin is not None:
        nearest = await nearest_resources(
            session,
            program_id=program_id,
            origin=origin,
            kinds={ResourceKind.CRISIS_LINE, ResourceKind.CRISIS_CENTER},
            open_at=None,
            limit=1,
        )
        numbers += [
            CrisisNumber(name=r.name, phone=r.phone, distance_km=round(km, 1))
            for r, km in nearest
            if r.phone not in ("911", "988")
        ]
    return numbers
