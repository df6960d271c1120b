"""A real SMTP server on loopback that keeps what it receives: the outside mail relay of tests.

`SmtpSink` runs aiosmtpd in a thread of its own (its own event loop), so a test's loop never has
to serve it and `start()` / `stop()` are plain calls, safe inside async tests. It binds
127.0.0.1 on a free port, and `start()` after `stop()` comes back on the same port: an outage
and its end, as an SMTP client sees them.

    sink.messages                   every accepted message, parsed (email.message.EmailMessage)
    sink.refuse(address, code=550)  answer RCPT TO for that address with `code` (451: try later)
    sink.refuse_all(code=550)       answer RCPT TO for every address with `code`
    sink.refusals                   every RCPT TO address refused so far, in order (lower case)
    sink.stop() / sink.start()      connection refused / accepting again
    sink.settings_fields()          the Settings fields that point CrisisDesk at the sink

The `smtp_sink` fixture yields a started sink and stops it after the test; register it with
`pytest_plugins = ["tests.fakes.smtp"]` in a conftest, or bind it in a test module.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fakes import HOST, free_port

_REPLIES = {
    421: "421 4.3.0 Service not available, try again later",
    450: "450 4.2.1 Mailbox busy, try again later",
    451: "451 4.3.0 Local error, try again later",
    550: "550 5.1.1 Mailbox unavailable",
    553: "553 5.1.3 Mailbox name not allowed",
}


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        code = self._sink.refused.get(address.lower(), self._sink.refused_all)
        if code is not None:
            self._sink.refusals.append(address.lower())
            return _REPLIES.get(code, f"{code} Refused")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self._sink.messages.append(parsed)
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.refused: dict[str, int] = {}
        self.refused_all: int | None = None
        self.refusals: list[str] = []
        self._controller: Controller | None = None

    def start(self) -> None:
        """Accept connections (again, on the same port)."""
        if self._controller is not None:
            return
        controller = Controller(_Handler(self), hostname=HOST, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening: a client now gets connection refused."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def refuse(self, address: str, code: int = 550) -> None:
        """Answer RCPT TO for `address` with `code` (5xx: permanent, 4xx: try later)."""
        self.refused[address.lower()] = code

    def refuse_all(self, code: int = 550) -> None:
        """Answer RCPT TO for every address with `code`: a relay that bounces everything."""
        self.refused_all = code

    def settings_fields(self) -> dict[str, Any]:
        return {"smtp_host": HOST, "smtp_port": self.port}


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()
