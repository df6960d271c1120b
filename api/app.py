"""The FastAPI application: routers, problem details, and the process runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import Depends, FastAPI
from temporalio.client import Client

from api.codec_cors import CodecCors
from api.console import install_console
from api.docs import install_docs
from api.limits import BodyLimitMiddleware
from api.metrics import install_metrics
from api.problems import PROBLEM_RESPONSES, document_errors_as_problems, install_problem_handlers
from api.query_rules import refuse_undocumented_query
from api.routes import (
    acks,
    break_glass,
    clients,
    codec,
    dispatch_callbacks,
    fhir,
    health,
    incident_history,
    incidents,
    instruments,
    oncall,
    reports,
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
        docs_url=None,  # served by `install_docs`, from the app's own assets
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.runtime = runtime
    use_audit_key(audit_key_for(settings))
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(CodecCors, origin=settings.temporal_ui_origin)
    install_problem_handlers(app)
    document_errors_as_problems(app)
    for module in (
        health,
        staff,
        clients,
        resources,
        incidents,
        incident_history,
        fhir,
        reports,
        instruments,
        break_glass,
        tasks,
        acks,
        dispatch_callbacks,
        sos,
        codec,
        oncall,
    ):
        app.include_router(module.router, dependencies=[Depends(refuse_undocumented_query)])
    install_docs(app)
    install_console(app)
    install_metrics(app, settings, engine)  # last: its middleware times every other layer
    return app
