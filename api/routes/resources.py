"""The local resource directory (admin writes; clinicians read)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status
from sqlmodel import col, func, select

from api.deps import Admin, DirectoryReader, SessionDep
from api.problems import not_found
from domain.models import Resource
from domain.models.resources import ResourceCreate, ResourceList, ResourcePublic
from domain.vocabulary import ResourceKind
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
    offset: int = Query(0, ge=0),
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


@router.get("/{resource_id}")
async def get_resource(
    resource_id: uuid.UUID, staff: DirectoryReader, session: SessionDep
) -> ResourcePublic:
    resource = await in_program(session, Resource, resource_id, staff.program_id)
    if resource is None:
        raise not_found("resource")
    return ResourcePublic.model_validate(resource)
