"""The admin's staff and resource pages: staff (list, add with the new token shown once,
deactivate) and the resource directory (list, add one, import a CSV file with the CLI's own
reader: every row valid, or nothing imported and each bad row named)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from api.console.page_support import attempt, found_or_missing, read_form
from api.console.rendering import PAGE_HEADERS, page
from api.console.session import Browser, CheckedForm, SignedIn, require_role
from api.deps import SessionDep
from api.routes import resources as resource_routes
from api.routes import staff as staff_routes
from domain.models.programs import StaffCreate
from domain.models.resources import ResourceCreate
from domain.vocabulary import ResourceKind, Role
from infra.directory import CSV_COLUMNS, ResourceFileError, import_resources, read_resource_csv

router = APIRouter(include_in_schema=False)
_RESOURCE_PAGE = 500


def _admin(me: SignedIn) -> SignedIn:
    require_role(me, Role.ADMIN)
    return me


async def _staff_page(
    request: Request,
    me: SignedIn,
    session: SessionDep,
    problems: list[str] | None = None,
    status_code: int = 200,
    **shown_once: Any,
) -> Response:
    listed = await staff_routes.list_staff(admin=me.staff, session=session)
    context = {
        "me": me,
        "section": "admin",
        "tab": "staff",
        "staff": listed.data,
        "roles": list(Role),
        "problems": problems or [],
        **shown_once,
    }
    return page(request, "admin_staff.html", context, status_code=status_code)


@router.get("/admin/staff")
async def staff(request: Request, me: Browser, session: SessionDep) -> Response:
    return await _staff_page(request, _admin(me), session)


@router.post("/admin/staff")
async def add_staff(request: Request, me: CheckedForm, session: SessionDep) -> Response:
    """The new member's token is in this answer only (it is stored hashed): not a redirect."""
    _admin(me)
    body = read_form(StaffCreate, await request.form(), flags=["on_call"])
    if isinstance(body, list):
        return await _staff_page(request, me, session, body, 422)
    done = await attempt(staff_routes.add_staff(body=body, admin=me.staff, session=session))
    if done.value is None:
        return await _staff_page(request, me, session, done.problems, 409)
    added = done.value
    return await _staff_page(
        request, me, session, status_code=201, new_token=added.token, new_member=added.name
    )


@router.post("/admin/staff/{staff_id}/deactivate")
async def deactivate_staff(staff_id: uuid.UUID, me: CheckedForm, session: SessionDep) -> Response:
    _admin(me)
    await found_or_missing(
        staff_routes.deactivate_staff(staff_id=staff_id, admin=me.staff, session=session)
    )
    return RedirectResponse("/admin/staff", status_code=303, headers=PAGE_HEADERS)


async def _resources_page(
    request: Request,
    me: SignedIn,
    session: SessionDep,
    problems: list[str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    listed = await resource_routes.list_resources(
        staff=me.staff, session=session, kind=None, limit=_RESOURCE_PAGE, offset=0
    )
    context = {
        "me": me,
        "section": "admin",
        "tab": "resources",
        "resources": listed.data,
        "count": listed.count,
        "kinds": list(ResourceKind),
        "columns": CSV_COLUMNS,
        "problems": problems or [],
        "notice": notice,
    }
    return page(request, "admin_resources.html", context, status_code=status_code)


@router.get("/admin/resources")
async def resources(request: Request, me: Browser, session: SessionDep) -> Response:
    return await _resources_page(request, _admin(me), session)


@router.post("/admin/resources")
async def add_resource(request: Request, me: CheckedForm, session: SessionDep) -> Response:
    """One resource, its cells read as a row of the CSV import reads them (hours as
    `mon=08:00-20:00;...`, services as `a|b`, a zip code standing in for lat and lon)."""
    _admin(me)
    form = await request.form()
    cells = {c: _cell(form.get(c)) for c in CSV_COLUMNS}
    cells["open_24_7"] = "true" if "open_24_7" in form else "false"
    try:
        [body] = read_resource_csv(_one_row(cells))
    except ResourceFileError as error:
        messages = [f"{p.field}: {p.message}" for p in error.problems]
        return await _resources_page(request, me, session, messages, 422)
    done = await attempt(
        resource_routes.create_resource(body=body, admin=me.staff, session=session)
    )
    if done.value is None:
        return await _resources_page(request, me, session, done.problems, 409)
    notice = f"Added {done.value.name}."
    return await _resources_page(request, me, session, notice=notice, status_code=201)


@router.post("/admin/resources/import")
async def import_file(request: Request, me: CheckedForm, session: SessionDep) -> Response:
    _admin(me)
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _resources_page(request, me, session, ["file: choose a CSV file"], 422)
    try:
        text = (await upload.read()).decode("utf-8-sig")
    except UnicodeDecodeError:
        return await _resources_page(
            request, me, session, ["file: the file is not UTF-8 text (save it as CSV UTF-8)"], 422
        )
    try:
        found: list[ResourceCreate] = read_resource_csv(io.StringIO(text, newline=""))
    except ResourceFileError as error:
        messages = [str(p) for p in error.problems] + ["Nothing was imported."]
        return await _resources_page(request, me, session, messages, 422)
    except csv.Error as error:
        return await _resources_page(request, me, session, [f"file: {error}"], 422)
    imported = await import_resources(session, program_id=me.staff.program_id, resources=found)
    await session.commit()
    notice = f"Imported {imported} resource{'s' if imported != 1 else ''} from {upload.filename}."
    return await _resources_page(request, me, session, notice=notice, status_code=201)


def _cell(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _one_row(cells: dict[str, str]) -> io.StringIO:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS))
    writer.writeheader()
    writer.writerow(cells)
    out.seek(0)
    return out
