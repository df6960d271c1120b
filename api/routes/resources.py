"""The local resource directory (admin writes; clinicians read)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlmodel import col, func, select

from api.deps import Admin, DirectoryReader, SessionDep
from api.problems import Problem, not_found
from api.query_rules import SEARCH_ORIGIN
from domain.geo import Coordinates, coordinates_for_zip
from domain.hours import is_open
from domain.models import Resource
from domain.models.resources import (
    NearbyResource,
    NearbyResourceList,
    ResourceCreate,
    ResourceList,
    ResourcePublic,
    SearchOrigin,
)
from domain.vocabulary import ResourceKind
from infra.directory import nearest_resources, program_zone
from infra.records import add_resource, in_program

router = APIRouter(prefix="/v1/resources", tags=["resources"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_resource(
    body: ResourceCreate, admin: Admin, session: SessionDep
) -> ResourcePublic:
    resource = await add_resource(session, program_id=admin.program_id, data=body)
    await session.commit()
    return ResourcePublic.model_validate(resource)


@router.get("")
async def list_resources(
    staff: DirectoryReader,
    session: SessionDep,
    kind: ResourceKind | None = None,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> ResourceList:
    query = select(Resource).where(Resource.program_id == staff.program_id)
    counter = select(func.count()).where(Resource.program_id == staff.program_id)
    if kind is not None:
        query = query.where(Resource.kind == kind)
        counter = counter.where(Resource.kind == kind)
    rows = (
        await session.exec(query.order_by(col(Resource.name)).offset(offset).limit(limit))
    ).all()
    count = (await session.exec(counter)).one()
    return ResourceList(data=[ResourcePublic.model_validate(r) for r in rows], count=count)


@router.get(
    "/nearby",
    openapi_extra={"parameters": [SEARCH_ORIGIN]},  # zip, lat and lon as one object
)
async def nearby_resources(
    staff: DirectoryReader,
    session: SessionDep,
    zip_code: Annotated[
        str | None, Query(alias="zip", pattern=r"^[0-9]{5}$", include_in_schema=False)
    ] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, include_in_schema=False)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180, include_in_schema=False)] = None,
    kind: Annotated[list[ResourceKind] | None, Query(description="repeat for several")] = None,
    open_now: bool = True,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> NearbyResourceList:
    """The program's resources nearest to a zip code (its centroid) or to `lat`/`lon`, nearest
    first, with their distance in km and whether they are open now (on the program's clock);
    by default only those open now."""
    origin = await _search_origin(zip_code, lat, lon)
    now = datetime.now(UTC)
    found = await nearest_resources(
        session,
        program_id=staff.program_id,
        origin=Coordinates(lat=origin.lat, lon=origin.lon),
        kinds=set(kind) if kind else None,
        open_at=now if open_now else None,
        limit=limit,
    )
    zone = await program_zone(session, staff.program_id)
    data = [
        NearbyResource.model_validate(
            resource,
            update={
                "distance_km": round(distance, 2),
                "open_now": is_open(
                    open_24_7=resource.open_24_7, hours=resource.hours, zone=zone, at=now
                ),
            },
        )
        for resource, distance in found
    ]
    return NearbyResourceList(origin=origin, data=data, count=len(data))


async def _search_origin(
    zip_code: str | None, lat: float | None, lon: float | None
) -> SearchOrigin:
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise _invalid_query(missing, "lat and lon go together")
    if zip_code is not None and lat is not None:
        raise _invalid_query("zip", "give a zip code or lat and lon, not both")
    if lat is not None and lon is not None:
        return SearchOrigin(lat=lat, lon=lon)
    if zip_code is None:
        raise _invalid_query("zip", "give a zip code, or lat and lon")
    # The first look-up loads the bundled zip data (a fraction of a second): off the event loop.
    centroid = await asyncio.to_thread(coordinates_for_zip, zip_code)
    if centroid is None:
        raise _invalid_query("zip", f"{zip_code} is not a known US zip code")
    return SearchOrigin(lat=centroid.lat, lon=centroid.lon, zip=zip_code)


def _invalid_query(field: str, message: str) -> Problem:
    return Problem(
        422,
        "Unprocessable content",
        f"{field}: {message}",
        errors=[{"field": f"query.{field}", "message": message}],
    )


@router.get("/{resource_id}")
async def get_resource(
    resource_id: uuid.UUID, staff: DirectoryReader, session: SessionDep
) -> ResourcePublic:
    resource = await in_program(session, Resource, resource_id, staff.program_id)
    if resource is None:
        raise not_found("resource")
    return ResourcePublic.model_validate(resource)
