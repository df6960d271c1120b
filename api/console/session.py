"""Console sign-in: a staff token exchanged once for a session cookie, the CSRF token its forms
carry, and sign-out (SPEC 10.3). Only hashes of the cookie are stored; a session ends after 12
hours, at sign-out, or when its staff member is deactivated or their token ends."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlmodel import select

from api.auth import token_expired
from api.deps import Now, SessionDep
from domain.models import ConsoleSession, Staff
from domain.vocabulary import Role
from infra.records import staff_by_token

SESSION_COOKIE = "crisisdesk_session"
SESSION_LIFETIME = timedelta(hours=12)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind a browser, and the CSRF token their forms must carry."""

    staff: Staff
    session: ConsoleSession

    @property
    def role(self) -> Role:
        return Role(self.staff.role)

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


class NotSignedInError(Exception):
    """The browser has no running session: pages answer with the sign-in page."""


class CsrfRefusedError(Exception):
    """A state-changing request without this session's CSRF token."""


def _cookie_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def sign_in(session: SessionDep, token: str, now: datetime) -> tuple[str, SignedIn] | None:
    """A new console session for the holder of `token`, or None when it is not a live token.
    Returns the cookie's value (shown once) with the session."""
    staff = await staff_by_token(session, token=token.strip())
    if staff is None or not staff.active or token_expired(staff.token_expires_at, now):
        return None
    cookie = secrets.token_urlsafe(32)
    row = ConsoleSession(
        cookie_hash=_cookie_hash(cookie),
        csrf_token=secrets.token_urlsafe(32),
        staff_id=staff.id,
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    await session.commit()
    await session.refresh(staff)
    await session.refresh(row)
    structlog.get_logger("crisisdesk.console").info("console.signed_in", actor=str(staff.id))
    return cookie, SignedIn(staff=staff, session=row)


async def sign_out(session: SessionDep, signed_in: SignedIn, now: datetime) -> None:
    row = await session.get(ConsoleSession, signed_in.session.id)
    if row is not None and row.ended_at is None:
        row.ended_at = now
        await session.commit()


async def signed_in_browser(request: Request, session: SessionDep, now: Now) -> SignedIn:
    """The browser's running session, or NotSignedInError."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotSignedInError
    found = (
        await session.exec(
            select(ConsoleSession, Staff)
            .join(Staff, Staff.id == ConsoleSession.staff_id)  # type: ignore[arg-type]
            .where(ConsoleSession.cookie_hash == _cookie_hash(cookie))
        )
    ).first()
    if found is None:
        raise NotSignedInError
    row, staff = found
    ended = row.ended_at is not None or now >= row.expires_at
    if ended or not staff.active or token_expired(staff.token_expires_at, now):
        raise NotSignedInError
    structlog.contextvars.bind_contextvars(actor=str(staff.id))
    return SignedIn(staff=staff, session=row)


Browser = Annotated[SignedIn, Depends(signed_in_browser)]


async def checked_form(request: Request, signed_in: Browser) -> SignedIn:
    """A state-changing request of the console: it must carry this session's CSRF token, in
    the form or (from htmx) in a header. SameSite=Strict already keeps other sites' requests
    from carrying the cookie; this keeps a request that does from changing anything."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if sent is None or not hmac.compare_digest(sent, signed_in.csrf_token):
        raise CsrfRefusedError
    return signed_in


CheckedForm = Annotated[SignedIn, Depends(checked_form)]


def require_role(signed_in: SignedIn, *roles: Role) -> None:
    """Pages for some roles only: another role sees the same page as for a missing record."""
    if signed_in.role not in roles:
        raise PageNotFoundError


class PageNotFoundError(Exception):
    """A page this staff member may not see, or that does not exist: one answer for both."""
