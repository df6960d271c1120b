"""RFC 9457 problem details for every error, and the handlers that make them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from domain.decisions import DECISION_ROLES
from domain.vocabulary import DecisionKind, Role

log = structlog.get_logger("crisisdesk.api")

_Answer = TypeVar("_Answer")
PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://crisisdesk.dev/problems/"


class ProblemDetail(BaseModel):
    """RFC 9457 problem details; members beyond these name the field, stage or rule."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetail, "description": description}
    for status, description in {
        400: "the body cannot be read (not UTF-8, say)",
        401: "no valid token",
        403: "the caller's role may not do this",
        404: "no such resource in the caller's program",
        409: "not allowed now (the stage, a rule, a duplicate)",
        413: "the request body is larger than 256 KiB",
        422: "the request is wrong; `field` names what",
        429: "too many requests",
        503: "a dependency (database, workflow engine) is unavailable or late",
    }.items()
}


def document_errors_as_problems(app: FastAPI) -> None:
    """Every error is answered as a problem: the OpenAPI document says so for each error status.

    FastAPI documents a response model as `application/json`, and a route's own words for a
    status (`responses={409: {"description": ...}}`) drop the app-wide model altogether."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # built once, then cached on the app: so is the change below
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                for status, response in operation.get("responses", {}).items():
                    if status[0] in "45":
                        schema = {"$ref": "#/components/schemas/ProblemDetail"}
                        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": schema}}
        return document

    app.openapi = openapi  # type: ignore[method-assign]


class Problem(Exception):  # noqa: N818 (RFC 9457 calls it a problem)
    """Raise to answer a problem detail; `extra` members are added to the body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.headers = headers
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"no such {what}")


def problem_response(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    slug = title.lower().replace(" ", "-")
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    503: "Service unavailable",
}


# A model-level rule names its field as the start of its message: "justification: needs ...".
_NAMED_FIELD = re.compile(r"^(?:Value error, )?([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.+)$", re.S)


_UNION_TAGS = frozenset(DecisionKind)


def _field_error(error: Any) -> dict[str, str]:
    parts = [str(p) for p in error["loc"] if p != "body"]
    if len(parts) > 1 and parts[0] in _UNION_TAGS:
        parts = parts[1:]  # a decision's `kind` tag is not a field the caller wrote
    location = ".".join(parts)
    message = str(error["msg"])
    named = _NAMED_FIELD.match(message)
    if named and error["type"] == "value_error":
        return {"field": named.group(1), "message": named.group(2)}
    return {"field": location or "body", "message": message}


def refusal_problem(error: WorkflowUpdateFailedError, role: Role | None = None) -> Problem:
    """A workflow validator's refusal (ApplicationError `DecisionRefused`) as a problem; its
    `allowed` decisions are those `role` may record (what the incident view offers it)."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "DecisionRefused" and cause.details:
        why = dict(cause.details[0])
        if role is not None and why.get("allowed"):
            why["allowed"] = [k for k in why["allowed"] if role in DECISION_ROLES[DecisionKind(k)]]
        status_code = int(why.pop("status", 409))
        if status_code == 404:
            return not_found("incident")  # one 404 body, whoever's incident it is (SPEC 10.2)
        detail = str(why.pop("detail", cause.message))
        title = {403: "Forbidden", 404: "Not found", 422: "Unprocessable content"}.get(
            status_code, "Conflict"
        )
        if why.get("field"):  # the field the refusal names, as a 422 names it
            why["errors"] = [{"field": why["field"], "message": detail}]
        return Problem(
            status_code, title, detail, **{k: v for k, v in why.items() if v is not None}
        )
    return Problem(409, "Conflict", "the workflow refused the decision")


class WorkflowAnswerLateError(Exception):
    """A workflow did not answer within the API's bound (it may still apply the request)."""


async def answered_in_time(
    call: Awaitable[_Answer], within: timedelta = timedelta(seconds=20)
) -> _Answer:
    """Bound a wait on a workflow: the SDK keeps polling an update while the workflow cannot
    run, and a caller must get an answer (503, with how to learn the outcome) instead."""
    try:
        return await asyncio.wait_for(call, timeout=within.total_seconds())
    except TimeoutError:
        raise WorkflowAnswerLateError from None


def _allowed_methods(request: Request) -> str:
    """Every method the path answers, asked of the router itself: Starlette's 405 names only
    the methods of the first route on the path."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, error: Problem) -> JSONResponse:
        return problem_response(
            error.status, error.title, error.detail, headers=error.headers, **error.extra
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(
            error.status_code,
            _TITLES.get(error.status_code, "Error"),
            str(error.detail),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in error.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem_response(
            422,
            "Unprocessable content",
            f"{first['field']}: {first['message']}",
            errors=errors,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database_down(_: Request, error: Exception) -> JSONResponse:
        log.error("database.unavailable", error_type=type(error).__name__)
        return problem_response(
            503, "Service unavailable", "the database is unavailable", headers={"Retry-After": "5"}
        )

    @app.exception_handler(WorkflowAnswerLateError)
    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    @app.exception_handler(RPCTimeoutOrCancelledError)
    async def _workflow_slow(_: Request, error: Exception) -> JSONResponse:
        log.warning("temporal.answer_late", error_type=type(error).__name__)
        return problem_response(
            503,
            "Service unavailable",
            "the workflow did not answer in time; the decision may still be recorded: send it "
            "again with the same Idempotency-Key to learn its outcome",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(RPCError)
    async def _temporal_down(_: Request, error: RPCError) -> JSONResponse:
        log.error("temporal.unavailable", status=str(error.status))
        return problem_response(
            503,
            "Service unavailable",
            "the workflow engine is unavailable",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("api.unexpected_error", error_type=type(error).__name__)
        return problem_response(500, "Internal server error", "an unexpected error was logged")
