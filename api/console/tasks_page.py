"""The follow-up queue (`/tasks`): the program's tasks, soonest due first, each claimed, called
and completed from its row; live. Claim and complete go through the same route functions as
`/v1/tasks`, so the follow-up workflow decides and a refusal is shown in the page."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from api.console.live import Versions, live_stream, tasks_version
from api.console.page_support import Attempt, attempt, read_form, staff_names
from api.console.rendering import PAGE_HEADERS, page
from api.console.session import Browser, CheckedForm, SignedIn, require_role
from api.deps import SessionDep, TemporalDep
from api.routes import tasks as task_routes
from api.routes.tasks import TaskCompletion, TaskView
from domain.vocabulary import FollowUpOutcome, Role, TaskStatus

router = APIRouter(include_in_schema=False)
_QUEUE_ROLES = (Role.FOLLOWUP, Role.SUPERVISOR)
_OPEN = frozenset({TaskStatus.REQUESTED, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS})
# The queue shows at most this many tasks (the route's own page limit).
_PAGE = 200
Show = Literal["open", "all"]


async def _rows(me: SignedIn, session: SessionDep, show: Show) -> dict[str, Any]:
    listed = await task_routes.list_tasks(
        staff=me.staff,
        session=session,
        status=None,
        due_before=None,
        assignee=None,
        limit=_PAGE,
        offset=0,
    )
    tasks = [t for t in listed.data if show == "all" or t.status in _OPEN]
    names = await staff_names(session, me.staff.program_id, (t.assignee for t in tasks))
    return {
        "me": me,
        "tasks": tasks,
        "names": names,
        "show": show,
        "outcomes": list(FollowUpOutcome),
        "open_statuses": _OPEN,
        "more": listed.count > len(listed.data),
    }


async def _queue(
    request: Request,
    me: SignedIn,
    session: SessionDep,
    show: Show = "open",
    problem: Attempt[TaskView] | None = None,
    status_code: int = 200,
) -> Response:
    context = await _rows(me, session, show)
    context |= {"section": "tasks", "problems": problem.problems if problem else []}
    return page(request, "tasks.html", context, status_code=status_code)


@router.get("/tasks")
async def tasks(
    request: Request, me: Browser, session: SessionDep, show: Show = "open"
) -> Response:
    require_role(me, *_QUEUE_ROLES)
    return await _queue(request, me, session, show)


@router.get("/tasks/rows")
async def task_rows(
    request: Request, me: Browser, session: SessionDep, show: Show = "open"
) -> Response:
    require_role(me, *_QUEUE_ROLES)
    return page(request, "partials/task_rows.html", await _rows(me, session, show))


@router.get("/live/tasks")
async def live_tasks(request: Request) -> Response:
    async def watch(me: SignedIn, _: AsyncSession) -> tuple[Versions, None]:
        require_role(me, *_QUEUE_ROLES)
        program_id = me.staff.program_id
        return {"tasks": lambda s: tasks_version(s, program_id)}, None

    return await live_stream(request, watch)


@router.post("/tasks/{task_id}/claim")
async def claim(
    request: Request,
    task_id: uuid.UUID,
    me: CheckedForm,
    session: SessionDep,
    temporal: TemporalDep,
) -> Response:
    require_role(me, Role.FOLLOWUP)  # the route's own rule: only follow-up workers claim
    done = await attempt(
        task_routes.claim_task(task_id=task_id, staff=me.staff, session=session, temporal=temporal)
    )
    return await _answered(request, me, session, task_id, done)


@router.post("/tasks/{task_id}/complete")
async def complete(
    request: Request,
    task_id: uuid.UUID,
    me: CheckedForm,
    session: SessionDep,
    temporal: TemporalDep,
) -> Response:
    require_role(me, *_QUEUE_ROLES)
    body = read_form(TaskCompletion, await request.form())
    if isinstance(body, list):
        return await _queue(request, me, session, problem=Attempt(problems=body), status_code=422)
    done = await attempt(
        task_routes.complete_task(
            task_id=task_id, body=body, staff=me.staff, session=session, temporal=temporal
        )
    )
    return await _answered(request, me, session, task_id, done)


async def _answered(
    request: Request, me: SignedIn, session: SessionDep, task_id: uuid.UUID, done: Attempt[TaskView]
) -> Response:
    """Back to the queue at the task's row; a refusal is shown on the queue itself."""
    if done.refused:
        return await _queue(request, me, session, problem=done, status_code=409)
    show = "open" if done.value is not None and done.value.status in _OPEN else "all"
    return RedirectResponse(
        f"/tasks?show={show}#task-{task_id}", status_code=303, headers=PAGE_HEADERS
    )
