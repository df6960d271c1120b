"""Structured logging: JSON in production, readable console in development, PHI redacted.

Every logger passes the same redaction: structlog's own, and the standard library's (uvicorn's
server and access logs, SQLAlchemy, Temporal's SDK, httpx, Twilio) through one handler on the
root logger. Exceptions keep their frames and types, never their messages; access lines keep
the method, the path without its query string or tokens, and the status."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterator, MutableMapping
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
        "token",
        "positional_args",
    }
)
REDACTED = "[redacted]"
# What a standard-library record about an exception says instead of a message that may quote it.
EXCEPTION_MESSAGE_WITHHELD = "an error with an exception (message withheld: it may quote data)"
ASYNCIO_LOGGER = "asyncio"
# Loggers of libraries that write request data (Twilio logs each request's `To` and `Body`
# at INFO) or that are merely noisy: warnings and errors only.
QUIET_LOGGERS = ("alembic", "httpx", "temporalio.activity", "twilio", "aiosmtplib")
# Path segments that are credentials: the ack link's token, the client's SOS page token.
_TOKEN_AFTER = frozenset({"acks", "sos"})
_PLAIN_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_UUID_SEGMENT = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
# The console's own files (`/static/vendor/htmx-2.0.11.min.js`): a name, never a credential.
_ASSET_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(js|css|png|svg|ico|map)$")
# Last resort for free text a library wrote: phone numbers, email addresses, coordinates.
_PHI_PATTERNS = (
    re.compile(r"\+\d{7,15}\b|\(\d{3}\) ?\d{3}-\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b"),
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    re.compile(r"-?\d{1,3}\.\d{3,}"),
)


def redact_phi(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the value of every PHI key, however deep, before rendering."""
    for key in list(event_dict):
        if key in ("event", "_record", "_from_structlog"):
            continue
        event_dict[key] = _redacted(key, event_dict[key])
    return event_dict


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


def exceptions_without_messages(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Render `exc_info` as frames and exception types only: a message can quote the data that
    failed (a name in an SQL parameter, a phone number in a provider's error)."""
    exc_info = event_dict.pop("exc_info", None)
    error: BaseException | None = None
    if isinstance(exc_info, BaseException):
        error = exc_info
    elif isinstance(exc_info, tuple) and len(exc_info) == 3:
        error = exc_info[1]
    elif exc_info:
        error = sys.exc_info()[1]
    if error is not None:
        event_dict["exception"] = "\n".join(_trace_lines(error))
    return event_dict


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The exception and its causes, the first cause first (as Python prints them)."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in found):
        found.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return reversed(found)


def _trace_lines(error: BaseException) -> list[str]:
    lines: list[str] = []
    for item in _chain(error):
        lines.append("Traceback (most recent call last):")
        lines += [
            f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}'
            for frame in traceback.extract_tb(item.__traceback__)
        ]
        kind = type(item)
        lines.append(f"{kind.__module__}.{kind.__qualname__}: {REDACTED}")
    return lines


def safe_path(path: str) -> str:
    """A request path for a log line: no query string, no token, nothing but ids and words."""
    segments = path.split("?", 1)[0].split("/")
    kept: list[str] = []
    for index, segment in enumerate(segments):
        after_token_word = index > 0 and segments[index - 1] in _TOKEN_AFTER
        plain = (
            not segment
            or _PLAIN_SEGMENT.match(segment)
            or _UUID_SEGMENT.match(segment)
            or _ASSET_SEGMENT.match(segment)
        )
        kept.append(segment if plain and not after_token_word else REDACTED)
    return "/".join(kept)


def _scrubbed(text: str) -> str:
    for pattern in _PHI_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _arguments(arguments: object) -> list[object]:
    if isinstance(arguments, tuple):
        return list(arguments)
    if isinstance(arguments, dict):
        return list(arguments.values())
    return [arguments] if arguments else []


def _from_asyncio(record: logging.LogRecord) -> bool:
    return record.name == ASYNCIO_LOGGER or record.name.startswith(f"{ASYNCIO_LOGGER}.")


def _may_quote_an_exception(record: logging.LogRecord, arguments: list[object]) -> bool:
    """A record about an exception: its message may have the exception's text in it (asyncio's
    "Task exception was never retrieved" quotes it whole, with a database's DETAIL line)."""
    return (
        _from_asyncio(record)
        or bool(record.exc_info)
        or any(isinstance(argument, BaseException) for argument in arguments)
    )


def _message_about_an_exception(record: logging.LogRecord, arguments: list[object]) -> str:
    """The format string a library wrote, when it has arguments: code, not data, so it cannot
    hold the exception's text (the arguments are dropped). A message without arguments may have
    been formatted before logging (an f-string quoting the error): a fixed text replaces it."""
    if not _from_asyncio(record) and arguments and isinstance(record.msg, str):
        return _scrubbed(record.msg)
    return f"{record.name}: {EXCEPTION_MESSAGE_WITHHELD}"


def standard_library_record(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A standard-library record as a structlog event: the logger's name, an access line rebuilt
    from its parts (uvicorn's holds the client's address and the full path with its query), a
    record about an exception without the exception's text (its type and frames stay, in
    `exception`), and any other message scrubbed of what looks like a phone number, an email or
    coordinates."""
    record = event_dict.get("_record")
    arguments = event_dict.pop("positional_args", ())
    if not isinstance(record, logging.LogRecord):
        return event_dict
    event_dict["logger"] = record.name
    values = _arguments(arguments)
    if record.name == "uvicorn.access" and isinstance(arguments, tuple) and len(arguments) == 5:
        _client, method, path, _version, status = arguments
        event_dict["event"] = "http.request"
        event_dict["method"] = str(method)
        event_dict["path"] = safe_path(str(path))
        event_dict["status"] = status
    elif _may_quote_an_exception(record, values):
        event_dict["event"] = _message_about_an_exception(record, values)
    else:
        event_dict["event"] = _scrubbed(str(event_dict.get("event", "")))
    return event_dict


def _renderer(settings: Settings) -> Any:
    if settings.log_format is LogFormat.JSON:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def configure_logging(settings: Settings) -> None:
    renderer = _renderer(settings)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            exceptions_without_messages,
            redact_phi,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(settings.log_level)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                standard_library_record,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                exceptions_without_messages,
                redact_phi,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            pass_foreign_args=True,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's loggers write through the root's handler, not handlers of their own.
    # Whatever an earlier uvicorn configuration set on them (a level, no propagation) is undone.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
