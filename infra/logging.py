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


def _redacted(key: str, value: Any) -> Any:
    if key.lower() in PHI_KEYS:
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
            redact_phi,
            structlog.processors.format_exc_info,
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
