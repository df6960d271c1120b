"""Request dependencies as annotated aliases: the session, the caller, the Temporal client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.problems import Problem
from api.runtime import Runtime
from domain.audit import AuditEntry
from domain.models import Staff
from domain.vocabulary import Role
from infra.audit_log import append_audit_on
from infra.records import staff_by_token

log = structlog.get_logger("crisisdesk.api")
_bearer = HTTPBearer(auto_error=False, description="Staff bearer token")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One session per request; the route commits what it writes.

    Closing runs after the answer has started: a connection the database cut meanwhile (it
    restarted) must not break an answer already given, so its failure to roll back is dropped
    (the pool discards that connection)."""
    session = runtime.sessions()
    try:
        yield session
    finally:
        try:
            await session.close()
        except DBAPIError as error:
            log.warning("database.session_close_failed", error_type=type(error).__name__)


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_temporal(runtime: RuntimeDep) -> Client:
    if runtime.temporal is None:
        raise Problem(503, "Service unavailable", "the workflow engine is not reachable yet")
    return runtime.temporal


TemporalDep = Annotated[Client, Depends(get_temporal)]


async def get_current_staff(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Staff:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "a bearer token is required", headers=challenge)
    staff = await staff_by_token(session, token=credentials.credentials)
    if staff is None:
        raise Problem(401, "Unauthorized", "the bearer token is not valid", headers=challenge)
    structlog.contextvars.bind_contextvars(actor=str(staff.id))
    return staff


CurrentStaff = Annotated[Staff, Depends(get_current_staff)]


def require(*roles: Role) -> Callable[[Staff], Coroutine[Any, Any, Staff]]:
    allowed = frozenset(roles)

    async def _staff_with_role(staff: CurrentStaff) -> Staff:
        if staff.role not in allowed:
            raise Problem(
                403,
                "Forbidden",
                f"a {staff.role} may not do this; it needs {' or '.join(sorted(allowed))}",
            )
        return staff

    return _staff_with_role


Admin = Annotated[Staff, Depends(require(Role.ADMIN))]
Clinical = Annotated[Staff, Depends(require(Role.CLINICIAN, Role.SUPERVISOR))]
Supervisor = Annotated[Staff, Depends(require(Role.SUPERVISOR))]
DirectoryReader = Annotated[Staff, Depends(require(Role.ADMIN, Role.CLINICIAN, Role.SUPERVISOR))]


async def audit_read(
    session: AsyncSession,
    staff: Staff,
    action: str,
    *,
    incident_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Reading clinical detail is an audit event: who read what, and when. Written on the
    request's own session and connection: a read never waits for a second connection (a burst
    of readers would hold every connection of the pool and wait on each other)."""
    entry = AuditEntry(
        event_key=f"{action}:{uuid.uuid4()}",
        program_id=staff.program_id,
        action=action,
        actor_id=str(staff.id),
        actor_role=staff.role,
        at=datetime.now(UTC),
        incident_id=incident_id,
        detail=detail or {},
    )
    await append_audit_on(session, [entry])
