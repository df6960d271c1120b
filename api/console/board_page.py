"""The board (`/`): the program's open incidents, live."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from api.console.board import BoardFilters, open_incidents
from api.console.live import Versions, board_version, live_stream
from api.console.rendering import page
from api.console.session import Browser, SignedIn, require_role
from api.deps import SessionDep
from api.problems import Problem
from domain.vocabulary import CrisisType, RiskLevel, Role, Stage

router = APIRouter(include_in_schema=False)
_CLINICAL = (Role.CLINICIAN, Role.SUPERVISOR)


E = TypeVar("E", bound=StrEnum)


def _chosen(vocabulary: type[E], raw: str, field: str) -> E | None:
    """A filter's value; "any" (empty) filters nothing, a value the vocabulary lacks is 422."""
    if not raw:
        return None
    allowed = [v.value for v in vocabulary]
    if raw not in allowed:
        message = f"must be one of {', '.join(allowed)}"
        raise Problem(
            422,
            "Unprocessable content",
            f"{field}: {message}",
            errors=[{"field": field, "message": message}],
        )
    return vocabulary(raw)


def board_filters(
    stage: str = "", crisis_type: str = "", risk_level: str = "", mine: bool = False
) -> BoardFilters:
    return BoardFilters(
        stage=_chosen(Stage, stage, "stage"),
        crisis_type=_chosen(CrisisType, crisis_type, "crisis_type"),
        risk_level=_chosen(RiskLevel, risk_level, "risk_level"),
        mine=mine,
    )


Filters = Annotated[BoardFilters, Depends(board_filters)]


@router.get("/")
async def board(
    request: Request,
    me: Browser,
    session: SessionDep,
    filters: Filters,
) -> Response:
    if me.role not in _CLINICAL:
        home = "/tasks" if me.role is Role.FOLLOWUP else "/admin"
        return Response(status_code=303, headers={"Location": home})
    rows = await open_incidents(session, me.staff, filters)
    return page(
        request,
        "board.html",
        {
            "me": me,
            "section": "board",
            "rows": rows,
            "filters": filters,
            "stages": [s for s in Stage if not s.is_final],
            "crisis_types": list(CrisisType),
            "risk_levels": list(RiskLevel),
        },
    )


@router.get("/board/rows")
async def board_rows(
    request: Request,
    me: Browser,
    session: SessionDep,
    filters: Filters,
) -> Response:
    require_role(me, *_CLINICAL)
    rows = await open_incidents(session, me.staff, filters)
    return page(request, "partials/board_rows.html", {"me": me, "rows": rows})


@router.get("/live/board")
async def live_board(request: Request) -> Response:
    async def watch(me: SignedIn, _: AsyncSession) -> tuple[Versions, None]:
        require_role(me, *_CLINICAL)
        program_id = me.staff.program_id
        return {"board": lambda s: board_version(s, program_id)}, None

    return await live_stream(request, watch)
