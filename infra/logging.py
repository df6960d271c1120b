"""Structured logging: JSON in production, readable console in development, PHI redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from infra.settings import LogFormat, Settings

# Keys that may carry protected health information; their values never reach a log line.
PHI_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "phone",
        "email",
        "address",
        "notes",
        "note",
        "text",
        "summary",
        "justification",
        "reason",
        "safety_plan",
        "location",
        "lat",
        "lon",
        "zip",
        "answers",
        "scores",
        "signs",
        "body",
        "message",
        "to",
        "recipient",
    }
)
REDACTED = "[redacted]"


def redact_phi(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the value of every PHI key, however deep, before rendering."""
    for key in list(event_dict):
        if key == "event":
            continue
        event_dict[key] = _redacted(key, event_dict[key])
    return event_dict


def strip_exception_messages(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Keep a traceback's frames and exception types, drop its messages: a message can quote
    the data that failed (a name in an SQL parameter, a phone number in a provider's error)."""
    trace = event_dict.get("exception")
    if isinstance(trace, str):
        kept = [
            line if line.startswith(("Traceback", "  File ")) else _exception_type(line)
            for line in trace.splitlines()
            if line.startswith(("Traceback", "  File ")) or _exception_type(line)
        ]
        event_dict["exception"] = "\n".join(kept)
    return event_dict


def _exception_type(line: str) -> str:
    head, sep, _ = line.partition(":")
    if line[:1].isspace() or not head or " " in head:
        return ""
    return f"{head}: {REDACTED}" if sep else head


def _redacted(key: str, value: Any) -> Any:
    lowered = key.lower()
    # `client_name`, `recipient_phone`: a key whose last word names PHI is PHI too.
    if lowered in PHI_KEYS or lowered.rsplit("_", 1)[-1] in PHI_KEYS:
        return REDACTED
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted("", v) for v in value]
    return value


def configure_logging(settings: Settings) -> None:
    renderer: Any
    if settings.log_format is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_phi,
            strip_exception_messages,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(settings.log_level)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=settings.log_level, stream=sys.stderr, format="%(message)s")
    for noisy in ("alembic", "httpx", "temporalio.activity"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
