"""Request dependencies as annotated aliases: the session, the caller, the Temporal client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.auth import last_use_is_stale, token_expired
from api.problems import Problem
from api.runtime import Runtime
from domain.audit import AuditEntry
from domain.models import BreakGlassGrant, Staff
from domain.vocabulary import Role, with_article
from infra.audit_log import append_audit_on
from infra.records import staff_by_token

log = structlog.get_logger("crisisdesk.api")
_bearer = HTTPBearer(auto_error=False, scheme_name="StaffToken", description="Staff bearer token")


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


def request_time() -> datetime:
    """The clock of a request: token expiry and break-glass grants are measured on it."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(request_time)]


async def get_current_staff(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    now: Now,
) -> Staff:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Problem(401, "Unauthorized", "a bearer token is required", headers=challenge)
    staff = await staff_by_token(session, token=credentials.credentials)
    if staff is None:
        raise Problem(401, "Unauthorized", "the bearer token is not valid", headers=challenge)
    if token_expired(staff.token_expires_at, now):
        raise Problem(401, "Unauthorized", "the bearer token has expired", headers=challenge)
    if last_use_is_stale(staff.last_used_at, now):
        await _record_use(session, staff, now)
    structlog.contextvars.bind_contextvars(actor=str(staff.id))
    return staff


async def _record_use(session: AsyncSession, staff: Staff, now: datetime) -> None:
    """Write the token's last use (one statement, not the whole row); a failed write never
    refuses the request."""
    try:
        await session.exec(update(Staff).where(col(Staff.id) == staff.id).values(last_used_at=now))
        await session.commit()
    except DBAPIError as error:
        await session.rollback()  # which expires the caller's row: read it again for the route
        log.warning("staff.last_use_not_recorded", error_type=type(error).__name__)
        await session.refresh(staff)


CurrentStaff = Annotated[Staff, Depends(get_current_staff)]


def require(*roles: Role) -> Callable[[Staff], Coroutine[Any, Any, Staff]]:
    allowed = frozenset(roles)

    async def _staff_with_role(staff: CurrentStaff) -> Staff:
        if staff.role not in allowed:
            raise Problem(
                403,
                "Forbidden",
                f"{with_article(staff.role)} may not do this; "
                f"it needs {' or '.join(with_article(r) for r in sorted(allowed))}",
            )
        return staff

    return _staff_with_role


Admin = Annotated[Staff, Depends(require(Role.ADMIN))]
Clinical = Annotated[Staff, Depends(require(Role.CLINICIAN, Role.SUPERVISOR))]
Supervisor = Annotated[Staff, Depends(require(Role.SUPERVISOR))]
DirectoryReader = Annotated[Staff, Depends(require(Role.ADMIN, Role.CLINICIAN, Role.SUPERVISOR))]


@dataclass(frozen=True)
class IncidentAccess:
    """Whose incident a caller reads: their own program's, or another's under a grant."""

    program_id: uuid.UUID
    grant_id: uuid.UUID | None = None

    def audit_detail(self) -> dict[str, Any]:
        return {"break_glass_grant": str(self.grant_id)} if self.grant_id else {}


async def incident_access(
    session: AsyncSession, staff: Staff, incident_id: uuid.UUID, now: datetime
) -> IncidentAccess:
    """The program whose incident `incident_id` the caller may read: their own, or the
    incident's program while a break-glass grant of theirs runs (SPEC 10.2). Without a grant,
    another program's incident stays out of reach: the caller's own program is answered, and
    the incident is not found in it."""
    grant = (
        await session.exec(
            select(BreakGlassGrant)
            .where(BreakGlassGrant.incident_id == incident_id)
            .where(BreakGlassGrant.staff_id == staff.id)
            .where(col(BreakGlassGrant.granted_at) <= now)
            .where(col(BreakGlassGrant.expires_at) > now)
            .order_by(col(BreakGlassGrant.expires_at).desc())
        )
    ).first()
    if grant is None or staff.role != Role.SUPERVISOR or not staff.active:
        return IncidentAccess(program_id=staff.program_id)
    return IncidentAccess(program_id=grant.program_id, grant_id=grant.id)


async def audit_read(
    session: AsyncSession,
    staff: Staff,
    action: str,
    *,
    incident_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    program_id: uuid.UUID | None = None,
) -> None:
    """Reading clinical detail is an audit event: who read what, and when, in the chain of the
    program whose record it is (`program_id`; the caller's own by default). Written on the
    request's own session and connection: a read never waits for a second connection (a burst
    of readers would hold every connection of the pool and wait on each other)."""
    entry = AuditEntry(
        event_key=f"{action}:{uuid.uuid4()}",
        program_id=program_id or staff.program_id,
        action=action,
        actor_id=str(staff.id),
        actor_role=staff.role,
        at=datetime.now(UTC),
        incident_id=incident_id,
        detail=detail or {},
    )
    await append_audit_on(session, [entry])
