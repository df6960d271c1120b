"""The FastAPI application: routers, problem details, and the process runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from temporalio.client import Client

from api.limits import BodyLimitMiddleware
from api.problems import PROBLEM_RESPONSES, document_errors_as_problems, install_problem_handlers
from api.routes import (
    acks,
    break_glass,
    clients,
    dispatch_callbacks,
    health,
    incident_history,
    incidents,
    resources,
    sos,
    staff,
    tasks,
)
from api.runtime import Runtime
from infra.audit_log import audit_key_for, use_audit_key
from infra.db import make_async_engine, session_factory
from infra.settings import Settings
from infra.sos_outbox import SosOutboxDrain


def create_app(settings: Settings, *, temporal: Client | None = None) -> FastAPI:
    """Build the app; tests pass their own Temporal client, processes connect on start-up."""
    engine = make_async_engine(settings.resolved_database_url)
    runtime = Runtime(
        settings=settings, engine=engine, sessions=session_factory(engine), temporal=temporal
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.connect_in_background()
        # SOS presses Temporal could not take are opened from here once it is back.
        drain = asyncio.create_task(
            SosOutboxDrain(
                runtime.sessions, lambda: runtime.temporal, task_queue=settings.task_queue
            ).run()
        )
        yield
        drain.cancel()
        with suppress(asyncio.CancelledError):
            await drain
        await runtime.close()

    app = FastAPI(
        title="CrisisDesk",
        version="0.1.0",
        summary="Durable emergency case manager for virtual intensive outpatient programs",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
    )
    app.state.runtime = runtime
    use_audit_key(audit_key_for(settings))
    app.add_middleware(BodyLimitMiddleware)
    install_problem_handlers(app)
    document_errors_as_problems(app)
    for module in (
        health,
        staff,
        clients,
        resources,
        incidents,
        incident_history,
        break_glass,
        tasks,
        acks,
        dispatch_callbacks,
        sos,
    ):
        app.include_router(module.router)
    return app
