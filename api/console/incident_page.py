"""The incident page (`/incidents/{id}`): who, where, the risk, the decisions the signed-in role
may record now as forms, and the live timeline with each contact's and dispatch's status.

A decision posted here is parsed as the JSON body is and recorded through the same route
function as `POST /v1/incidents/{id}/decisions`, with an idempotency key the form carries (a
double click records it once)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from api.console.decision_forms import decision_from_form, field_errors, form_for
from api.console.incident_facts import IncidentFacts, incident_facts
from api.console.instrument_forms import assessment_from_form, instrument_forms, live_score
from api.console.live import (
    StillAllowed,
    Versions,
    decisions_version,
    incident_version,
    live_stream,
)
from api.console.rendering import PAGE_HEADERS, page
from api.console.session import (
    Browser,
    CheckedForm,
    PageNotFoundError,
    SignedIn,
    require_role,
)
from api.deps import Now, SessionDep, TemporalDep, incident_access
from api.incident_reads import readable_incident
from api.problems import Problem
from api.routes.incidents import record_decision
from domain.decisions import CLINICAL, DECISIONS
from domain.vocabulary import DecisionKind

router = APIRouter(include_in_schema=False)


async def _facts(
    session: SessionDep, temporal: TemporalDep, me: Browser, incident_id: uuid.UUID, now: Now
) -> IncidentFacts:
    require_role(me, *CLINICAL)
    try:
        return await incident_facts(session, temporal, me, incident_id, now)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFoundError from None
        raise


def _context(me: Browser, facts: IncidentFacts, **extra: Any) -> dict[str, Any]:
    # In the registry's order: assessing, de-escalating, telling, dispatching, then the rest.
    forms = {
        kind: form_for(kind, facts.choices)
        for kind in DECISIONS
        if kind in facts.view.allowed_decisions and kind is not DecisionKind.ASSESSMENT
    }
    return {
        "me": me,
        "section": "board",
        "facts": facts,
        "view": facts.view,
        "forms": forms,
        "instruments": instrument_forms(facts.view.crisis_type),
        # Each form its own key: a form sent again (a lost answer) records its decision once.
        "new_key": uuid.uuid4,
        "errors": {},
        "open_kind": None,
        "posted": {},
        **extra,
    }


async def _shown(
    request: Request,
    template: str,
    incident_id: uuid.UUID,
    me: Browser,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> Response:
    facts = await _facts(session, temporal, me, incident_id, now)
    return page(request, template, _context(me, facts))


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request,
    incident_id: uuid.UUID,
    me: Browser,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> Response:
    return await _shown(request, "incident.html", incident_id, me, session, temporal, now)


@router.get("/incidents/{incident_id}/live")
async def incident_live_region(
    request: Request,
    incident_id: uuid.UUID,
    me: Browser,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> Response:
    """The live region (timeline, deliveries, dispatches), fetched on each `changed` event."""
    template = "partials/incident_live.html"
    return await _shown(request, template, incident_id, me, session, temporal, now)


@router.get("/incidents/{incident_id}/decision-forms")
async def decision_forms_region(
    request: Request,
    incident_id: uuid.UUID,
    me: Browser,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> Response:
    """The decision forms, fetched when the decisions on offer change."""
    template = "partials/decision_forms.html"
    return await _shown(request, template, incident_id, me, session, temporal, now)


@router.get("/live/incidents/{incident_id}")
async def live_incident(request: Request, incident_id: uuid.UUID) -> Response:
    """The incident's change stream, for whoever may read the incident, checked as the page is
    (`readable_incident`); under a break-glass grant, again on every poll, so the stream ends
    (and the page reloads to its 404) when the grant does."""

    async def watch(me: SignedIn, session: AsyncSession) -> tuple[Versions, StillAllowed | None]:
        require_role(me, *CLINICAL)
        try:
            access, _, _ = await readable_incident(
                session=session,
                temporal=request.app.state.runtime.temporal,
                staff=me.staff,
                incident_id=incident_id,
                now=datetime.now(UTC),
            )
        except Problem:
            raise PageNotFoundError from None
        versions: Versions = {
            "changed": lambda s: incident_version(s, incident_id),
            "decisions": lambda s: decisions_version(s, incident_id),
        }
        if access.grant_id is None:
            return versions, None
        staff, program_id = me.staff, access.program_id

        async def grant_runs(s: AsyncSession) -> bool:
            now = datetime.now(UTC)
            return (await incident_access(s, staff, incident_id, now)).program_id == program_id

        return versions, grant_runs

    return await live_stream(request, watch)


@router.post("/incidents/{incident_id}/assessment-score")
async def assessment_score(request: Request, incident_id: uuid.UUID, me: CheckedForm) -> Response:
    """The risk as the clinician answers, scored by the instrument's own rules."""
    require_role(me, *CLINICAL)
    form = await request.form()
    return page(request, "partials/assessment_score.html", {"score": live_score(form)})


@router.post("/incidents/{incident_id}/decisions/{kind}")
async def post_decision(
    request: Request,
    incident_id: uuid.UUID,
    kind: DecisionKind,
    me: CheckedForm,
    session: SessionDep,
    temporal: TemporalDep,
    now: Now,
) -> Response:
    facts = await _facts(session, temporal, me, incident_id, now)
    form = await request.form()
    key = form.get("idempotency_key")
    errors: dict[str, str] = {}
    try:
        decision = (
            assessment_from_form(form)
            if kind is DecisionKind.ASSESSMENT
            else decision_from_form(kind, form, facts.choices)
        )
        await record_decision(
            incident_id,
            decision,
            me.staff,
            session,
            temporal,
            idempotency_key=key if isinstance(key, str) and key else None,
        )
    except ValidationError as error:
        errors = field_errors(error)
    except Problem as problem:
        errors = {"form": _problem_text(problem)}
    if not errors and not request.headers.get("HX-Request"):
        return Response(
            status_code=303, headers={"Location": f"/incidents/{incident_id}", **PAGE_HEADERS}
        )
    if not errors:
        facts = await incident_facts(session, temporal, me, incident_id, now)
        context = _context(me, facts, recorded=kind)
        return page(request, "partials/incident_body.html", context)
    posted: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            posted.setdefault(name, []).append(value)
    context = _context(me, facts, errors=errors, open_kind=kind, posted=posted)
    if request.headers.get("HX-Request"):  # htmx swaps a 200: the form comes back with its errors
        return page(request, "partials/incident_body.html", context)
    return page(request, "incident.html", context, status_code=422)


def _problem_text(problem: Problem) -> str:
    return problem.detail[:1].upper() + problem.detail[1:]
