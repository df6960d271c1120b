"""Signing in and out of the console."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.console.rendering import PAGE_HEADERS, page
from api.console.session import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    CheckedForm,
    CsrfRefusedError,
    NotSignedInError,
    sign_in,
    sign_out,
    signed_in_browser,
)
from api.deps import Now, RuntimeDep, SessionDep
from domain.vocabulary import Role
from infra.settings import Environment

router = APIRouter(include_in_schema=False)

# Where each role starts: the board for clinical staff, their own work for the others.
_HOME = {
    Role.CLINICIAN: "/",
    Role.SUPERVISOR: "/",
    Role.FOLLOWUP: "/tasks",
    Role.ADMIN: "/admin",
}


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    return page(request, "signin.html")


@router.post("/signin")
async def signin(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    session: SessionDep,
    runtime: RuntimeDep,
    now: Now,
) -> Response:
    # No session yet, so no CSRF token: a sign-in posted from another site is refused by
    # its Origin (it would sign the browser into someone else's account).
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.url.netloc:
        raise CsrfRefusedError
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CsrfRefusedError
    with suppress(NotSignedInError):  # one session per browser: the one it had ends
        await sign_out(session, await signed_in_browser(request, session, now), now)
    signed = await sign_in(session, token, now)
    if signed is None:
        return page(
            request,
            "signin.html",
            {"error": "That token is not valid, has expired, or its account is inactive."},
            status_code=401,
        )
    cookie, signed_in = signed
    response = RedirectResponse(_HOME[signed_in.role], status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=runtime.settings.environment is Environment.PRODUCTION,
        path="/",
    )
    return response


@router.post("/signout")
async def signout(signed_in: CheckedForm, session: SessionDep, now: Now) -> Response:
    await sign_out(session, signed_in, now)
    response = RedirectResponse("/signin", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
