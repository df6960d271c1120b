"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import RuntimeDep
from api.problems import problem_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready when the database answers and Temporal is reachable; 503 names what is not."""
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready
        checks["database"] = f"unreachable ({type(error).__name__})"
    try:
        if runtime.temporal is None:
            raise ConnectionError("not connected")
        await runtime.temporal.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as error:  # any failure means not ready
        checks["temporal"] = f"unreachable ({type(error).__name__})"
    failing = [name for name, status in checks.items() if status != "ok"]
    if failing:
        return problem_response(
            503, "Service unavailable", f"not ready: {', '.join(failing)}", checks=checks
        )
    return JSONResponse({"status": "ready", "checks": checks})
