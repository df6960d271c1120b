"""How console pages are answered: one Jinja2 environment, the headers every page carries (a
strict Content-Security-Policy: no inline script or style, nothing from another origin; no
caching of anything clinical), and the answers to a missing session, a refused CSRF token and
a page that is not there."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.console.session import CsrfRefusedError, NotSignedInError, PageNotFoundError

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")
STATIC_PREFIX = "/static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _age(since: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or datetime.now(UTC)) - since).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d"


def _words(value: object) -> str:
    """An enum value as a clinician reads it: `follow_up` is "follow up"."""
    return str(getattr(value, "value", value)).replace("_", " ")


templates.env.filters["age"] = _age
templates.env.filters["words"] = _words
templates.env.globals["static"] = lambda name: f"{STATIC_PREFIX}/{name}"


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A console page or fragment with the console's headers."""
    response = templates.TemplateResponse(
        request, template, context or {}, status_code=status_code, headers=PAGE_HEADERS
    )
    return response


def install_console_handlers(app: FastAPI) -> None:
    """Serve the vendored assets, and answer the console's own refusals as pages."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=_HERE / "static"), name="static")

    @app.exception_handler(NotSignedInError)
    async def _to_sign_in(request: Request, _: NotSignedInError) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/signin", **PAGE_HEADERS})
        return RedirectResponse("/signin", status_code=303, headers=PAGE_HEADERS)

    @app.exception_handler(CsrfRefusedError)
    async def _csrf(request: Request, _: CsrfRefusedError) -> Response:
        return page(
            request,
            "refused.html",
            {
                "message": "This form has expired or did not come from the console. Reload the "
                "page and try again."
            },
            status_code=403,
        )

    @app.exception_handler(PageNotFoundError)
    async def _missing(request: Request, _: PageNotFoundError) -> Response:
        return page(request, "refused.html", {"message": "Not found."}, status_code=404)
