"""Opening an incident from the console (`/incidents/new`): the same route function as
`POST /v1/incidents`, with an idempotency key the form carries (a double submit opens one)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.console.decision_forms import Option
from api.console.rendering import PAGE_HEADERS, page
from api.console.session import Browser, CheckedForm, SignedIn, require_role
from api.deps import RuntimeDep, SessionDep, TemporalDep
from api.incident_views import IncidentCreate
from api.problems import Problem
from api.routes.clients import list_clients
from api.routes.incidents import open_incident
from domain.decisions import CLINICAL
from domain.vocabulary import CrisisType

router = APIRouter(include_in_schema=False)


async def _context(session: SessionDep, me: SignedIn, **extra: Any) -> dict[str, Any]:
    clients = await list_clients(me.staff, session, limit=200, offset=0)
    return {
        "me": me,
        "section": "new",
        "clients": [
            Option(str(c.id), f"{c.last_name}, {c.first_name}{' · ' + c.zip if c.zip else ''}")
            for c in clients.data
        ],
        "clients_not_listed": clients.count - len(clients.data),
        "crisis_types": list(CrisisType),
        "idempotency_key": uuid.uuid4(),
        "errors": {},
        "posted": {},
        **extra,
    }


@router.get("/incidents/new")
async def new_incident_page(request: Request, me: Browser, session: SessionDep) -> Response:
    require_role(me, *CLINICAL)
    return page(request, "new_incident.html", await _context(session, me))


@router.post("/incidents/new")
async def open_from_console(
    request: Request,
    me: CheckedForm,
    session: SessionDep,
    temporal: TemporalDep,
    runtime: RuntimeDep,
) -> Response:
    require_role(me, *CLINICAL)
    form = await request.form()
    posted = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    location = {k: posted[k] for k in ("address", "zip") if posted.get(k)}
    body: dict[str, Any] = {
        "client_id": posted.get("client_id") or None,
        "crisis_type": posted.get("crisis_type") or None,
        "summary": posted.get("summary", ""),
        "location": location or None,
    }
    errors: dict[str, str] = {}
    try:
        created = await open_incident(
            IncidentCreate.model_validate(body),
            me.staff,
            session,
            temporal,
            runtime,
            Response(),
            idempotency_key=posted.get("idempotency_key") or None,
        )
    except ValidationError as error:
        for item in error.errors():
            name = ".".join(str(p) for p in item["loc"]) or "form"
            errors.setdefault(name, str(item["msg"]).removeprefix("Value error, "))
    except Problem as problem:
        errors["form"] = problem.detail
    if errors:
        context = await _context(session, me, errors=errors, posted=posted)
        return page(request, "new_incident.html", context, status_code=422)
    return Response(
        status_code=303, headers={"Location": f"/incidents/{created.id}", **PAGE_HEADERS}
    )
