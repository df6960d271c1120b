"""The admin's client pages (`/admin`): the program's clients (list, add) and one client's
emergency contacts, consents (add, revoke with a reason) and SOS device tokens (issue one: its
`/sos/<token>` link is shown this once). Every write is the `/v1/clients` route's own function."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import col, select

from api.console.page_support import attempt, found_or_missing, read_form
from api.console.rendering import PAGE_HEADERS, page
from api.console.session import Browser, CheckedForm, SignedIn, require_role
from api.deps import SessionDep
from api.routes import clients as client_routes
from domain.models import ClientDevice
from domain.models.clients import (
    ClientCreate,
    ClientDeviceCreate,
    ConsentCreate,
    ConsentRevoke,
    EmergencyContactCreate,
)
from domain.vocabulary import ConsentKind, ContactKind, Role
from infra.directory import program_zone

router = APIRouter(include_in_schema=False)
_PAGE = 200


def _admin(me: SignedIn) -> SignedIn:
    require_role(me, Role.ADMIN)
    return me


def _back(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=PAGE_HEADERS)


async def _clients_page(
    request: Request,
    me: SignedIn,
    session: SessionDep,
    offset: int = 0,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    listed = await client_routes.list_clients(
        staff=me.staff, session=session, limit=_PAGE, offset=offset
    )
    context = {
        "me": me,
        "section": "admin",
        "tab": "clients",
        "clients": listed.data,
        "count": listed.count,
        "offset": offset,
        "page_size": _PAGE,
        "problems": problems or [],
    }
    return page(request, "admin_clients.html", context, status_code=status_code)


@router.get("/admin")
async def clients(request: Request, me: Browser, session: SessionDep, offset: int = 0) -> Response:
    return await _clients_page(request, _admin(me), session, offset=max(offset, 0))


@router.post("/admin/clients")
async def add_client(request: Request, me: CheckedForm, session: SessionDep) -> Response:
    _admin(me)
    body = read_form(ClientCreate, await request.form())
    if isinstance(body, list):
        return await _clients_page(request, me, session, problems=body, status_code=422)
    done = await attempt(client_routes.register_client(body=body, admin=me.staff, session=session))
    if done.value is None:
        return await _clients_page(request, me, session, problems=done.problems, status_code=409)
    return _back(f"/admin/clients/{done.value.id}")


async def _client_page(
    request: Request,
    me: SignedIn,
    session: SessionDep,
    client_id: uuid.UUID,
    problems: list[str] | None = None,
    status_code: int = 200,
    **shown_once: Any,
) -> Response:
    staff = me.staff
    client = await found_or_missing(
        client_routes.get_client(client_id=client_id, staff=staff, session=session)
    )
    contacts = await client_routes.list_emergency_contacts(
        client_id=client_id, staff=staff, session=session
    )
    consents = await client_routes.list_consents(client_id=client_id, admin=staff, session=session)
    devices = (
        await session.exec(
            select(ClientDevice)
            .where(col(ClientDevice.client_id) == client_id)
            .order_by(col(ClientDevice.created_at))
        )
    ).all()
    context = {
        "me": me,
        "section": "admin",
        "tab": "clients",
        "client": client,
        "contacts": contacts.data,
        "contact_names": {str(c.id): c.name for c in contacts.data},
        "consents": consents.data,
        "devices": devices,
        "contact_kinds": list(ContactKind),
        "consent_kinds": list(ConsentKind),
        "problems": problems or [],
        **shown_once,
    }
    return page(request, "admin_client.html", context, status_code=status_code)


@router.get("/admin/clients/{client_id}")
async def client_page(
    request: Request, client_id: uuid.UUID, me: Browser, session: SessionDep
) -> Response:
    return await _client_page(request, _admin(me), session, client_id)


@router.post("/admin/clients/{client_id}/contacts")
async def add_contact(
    request: Request, client_id: uuid.UUID, me: CheckedForm, session: SessionDep
) -> Response:
    _admin(me)
    body = read_form(EmergencyContactCreate, await request.form(), lists=["channels"])
    if isinstance(body, list):
        return await _client_page(request, me, session, client_id, body, 422)
    done = await attempt(
        client_routes.add_emergency_contact(
            client_id=client_id, body=body, admin=me.staff, session=session
        )
    )
    if done.refused:
        return await _client_page(request, me, session, client_id, done.problems, 409)
    return _back(f"/admin/clients/{client_id}#contacts")


@router.post("/admin/clients/{client_id}/consents")
async def add_consent(
    request: Request, client_id: uuid.UUID, me: CheckedForm, session: SessionDep
) -> Response:
    _admin(me)
    form = await request.form()
    expires = await _end_of_day(session, me, form.get("expires_on"))
    if isinstance(expires, str):
        return await _client_page(request, me, session, client_id, [expires], 422)
    body = read_form(ConsentCreate, form, skip=["expires_on"], extra={"expires_at": expires})
    if isinstance(body, list):
        return await _client_page(request, me, session, client_id, body, 422)
    done = await attempt(
        client_routes.record_consent(
            client_id=client_id, body=body, admin=me.staff, session=session
        )
    )
    if done.refused:
        return await _client_page(request, me, session, client_id, done.problems, 409)
    return _back(f"/admin/clients/{client_id}#consents")


@router.post("/admin/clients/{client_id}/consents/{consent_id}/revoke")
async def revoke_consent(
    request: Request,
    client_id: uuid.UUID,
    consent_id: uuid.UUID,
    me: CheckedForm,
    session: SessionDep,
) -> Response:
    _admin(me)
    body = read_form(ConsentRevoke, await request.form())
    if isinstance(body, list):
        return await _client_page(request, me, session, client_id, body, 422)
    done = await attempt(
        client_routes.revoke_consent(
            client_id=client_id, consent_id=consent_id, body=body, staff=me.staff, session=session
        )
    )
    if done.refused:
        return await _client_page(request, me, session, client_id, done.problems, 409)
    return _back(f"/admin/clients/{client_id}#consents")


@router.post("/admin/clients/{client_id}/devices")
async def issue_device(
    request: Request, client_id: uuid.UUID, me: CheckedForm, session: SessionDep
) -> Response:
    """The token is in this answer only (it is stored hashed): the page is not a redirect."""
    _admin(me)
    body = read_form(ClientDeviceCreate, await request.form())
    if isinstance(body, list):
        return await _client_page(request, me, session, client_id, body, 422)
    done = await attempt(
        client_routes.register_device(
            client_id=client_id, body=body, admin=me.staff, session=session
        )
    )
    if done.value is None:
        return await _client_page(request, me, session, client_id, done.problems, 409)
    # The configured public address, never the request's Host (a forged one would send the
    # client's token to another site).
    public_url = request.app.state.runtime.settings.public_url.rstrip("/")
    link = f"{public_url}/sos/{done.value.token}"
    return await _client_page(
        request, me, session, client_id, status_code=201, sos_link=link, sos_label=body.label
    )


@router.post("/admin/clients/{client_id}/devices/{device_id}/revoke")
async def revoke_device(
    client_id: uuid.UUID, device_id: uuid.UUID, me: CheckedForm, session: SessionDep
) -> Response:
    _admin(me)
    await found_or_missing(
        client_routes.revoke_device(
            client_id=client_id, device_id=device_id, admin=me.staff, session=session
        )
    )
    return _back(f"/admin/clients/{client_id}#devices")


async def _end_of_day(session: SessionDep, me: SignedIn, value: object) -> datetime | str | None:
    """A consent's last day (a date on the program's clock) as the moment it ends."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        return "expires_on: give a date as YYYY-MM-DD"
    zone = await program_zone(session, me.staff.program_id)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
