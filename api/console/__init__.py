"""The clinician console (SPEC 10.3): server-rendered pages and fragments over the same services
as the JSON API, live through server-sent events, with vendored htmx and no inline script."""

from __future__ import annotations

from fastapi import FastAPI

from api.console import (
    admin_directory_page,
    admin_page,
    board_page,
    incident_page,
    new_incident,
    signin,
    sla_page,
    sos_page,
    supervise_page,
    tasks_page,
)
from api.console.rendering import install_console_handlers


def install_console(app: FastAPI) -> None:
    install_console_handlers(app)
    for module in (signin, board_page, new_incident, incident_page, sos_page):
        app.include_router(module.router)
    for module in (tasks_page, supervise_page, sla_page, admin_page, admin_directory_page):
        app.include_router(module.router)
