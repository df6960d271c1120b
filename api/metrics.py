"""`GET /metrics` in Prometheus text: this process's request durations, and the case file's
counts (infra/metrics.py), which every API process reports alike.

Request durations are labelled by route template (`/v1/incidents/{incident_id}`), method and
status, never by a concrete path; a request no route matches is "unmatched". A duration runs
until the response starts, so a server-sent event stream (the console's `/live/*`, which never
ends) is counted once, when it opens. Each app has a registry of its own.

Every request is authenticated: with `CRISISDESK_METRICS_TOKEN` set (required in production)
a scrape sends it as a bearer token; without it, only a loopback client may scrape.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Iterable
from ipaddress import ip_address

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from infra.metrics import CasefileCounts, casefile_families, read_casefile_counts
from infra.settings import Settings

log = structlog.get_logger("crisisdesk.metrics")

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that took the request (a mount's as `<prefix>/{path}`)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


class RequestMetricsMiddleware:
    """Observes each HTTP request's duration once, when its response starts (or it fails)."""

    def __init__(self, app: ASGIApp, duration: Histogram) -> None:
        self.app = app
        self.duration = duration

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            if not observed:
                observed = True
                method = scope["method"] if scope["method"] in METHODS else "other"
                labels = (route_template(scope), method, str(status))
                self.duration.labels(*labels).observe(time.perf_counter() - started)

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed)
        except Exception:
            observe(500)  # the server's error handler answers it
            raise


class CasefileCollector(Collector):
    """Serves the last case-file read; `refresh` reads again once it is `cache_seconds` old."""

    def __init__(self, engine: AsyncEngine, cache_seconds: float) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._lock = asyncio.Lock()
        self._counts: CasefileCounts | None = None
        self._read_at = float("-inf")

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < self._cache_seconds:
                return
            try:
                async with self._engine.connect() as connection:
                    self._counts = await read_casefile_counts(connection)
            except (SQLAlchemyError, OSError) as error:
                log.warning("metrics.casefile_unreadable", error_type=type(error).__name__)
                self._counts = None
            self._read_at = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "crisisdesk_casefile_up",
            "1 when the case file answered the last read of its counts, else 0 (and no counts)",
            value=0 if self._counts is None else 1,
        )
        if self._counts is not None:
            yield from casefile_families(self._counts)


def _loopback(request: Request) -> bool:
    try:
        return request.client is not None and ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def scrape_allowed(request: Request, token: str | None) -> bool:
    """The configured bearer token (compared in constant time), or, without one, loopback."""
    if token is None:
        return _loopback(request)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def install_metrics(app: FastAPI, settings: Settings, engine: AsyncEngine) -> None:
    """The request-duration middleware (outermost, so it sees every answer) and the route."""
    registry = CollectorRegistry()
    duration = Histogram(
        "crisisdesk_http_request_duration_seconds",
        "Time until the response started, by route template, method and status",
        ["route", "method", "status"],
        registry=registry,
    )
    casefile = CasefileCollector(engine, settings.metrics_cache_seconds)
    registry.register(casefile)
    app.add_middleware(RequestMetricsMiddleware, duration=duration)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not scrape_allowed(request, settings.metrics_token):
            detail = (
                "send the metrics token as a bearer token"
                if settings.metrics_token
                else "set CRISISDESK_METRICS_TOKEN to scrape from another host"
            )
            return problem_response(401, "Unauthorized", detail, {"WWW-Authenticate": "Bearer"})
        await casefile.refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
