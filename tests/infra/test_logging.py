"""Structured logs: JSON lines that keep the ids an operator needs and never carry PHI."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import uuid
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from infra.db import make_sync_engine
from infra.logging import (
    EXCEPTION_MESSAGE_WITHHELD,
    REDACTED,
    configure_logging,
)
from infra.settings import LogFormat, Settings


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_logging")
def test_json_log_lines_keep_ids_and_redact_phi(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    configure_logging(Settings(log_format=LogFormat.JSON, data_dir=tmp_path))
    incident_id = str(uuid.uuid4())
    structlog.contextvars.bind_contextvars(actor="staff-42")
    try:
        structlog.get_logger("crisisdesk.test").info(
            "incident.opened",
            incident_id=incident_id,
            workflow_id=f"incident-{incident_id}",
            first_name="Marisol",
            last_name="Quintero-Vance",
            phone="+15035550199",
            notes="Took 30 pills of sertraline",
            contact={"relationship": "sister", "phone": "+15035550177", "Email": "m@q.org"},
            recipients=[{"name": "Jolene Vance", "channel": "sms"}],
            risk_level="high",
        )
    finally:
        structlog.contextvars.unbind_contextvars("actor")
    out = capsys.readouterr().err

    for phi in (
        "Marisol",
        "Quintero",
        "+15035550199",
        "+15035550177",
        "sertraline",
        "m@q.org",
        "Jolene",
    ):
        assert phi not in out
    [line] = _json_lines(out)
    assert line["event"] == "incident.opened"
    assert line["level"] == "info"
    assert line["incident_id"] == incident_id
    assert line["workflow_id"] == f"incident-{incident_id}"
    assert line["actor"] == "staff-42"
    assert line["risk_level"] == "high"
    assert line["first_name"] == REDACTED
    assert line["phone"] == REDACTED
    assert line["notes"] == REDACTED
    assert line["contact"] == {"relationship": "sister", "phone": REDACTED, "Email": REDACTED}
    assert line["recipients"] == [{"name": REDACTED, "channel": "sms"}]
    assert "timestamp" in line


@pytest.mark.usefixtures("restore_logging")
def test_the_configured_level_filters_lower_events(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    configure_logging(Settings(log_format=LogFormat.JSON, log_level="warning", data_dir=tmp_path))
    log = structlog.get_logger("crisisdesk.test")
    log.info("routine.detail")
    log.warning("page.unanswered", incident_id="i-1")
    [line] = _json_lines(capsys.readouterr().err)
    assert line["event"] == "page.unanswered"


@pytest.mark.usefixtures("restore_logging")
def test_an_exception_logged_with_phi_in_its_message_does_not_leak_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    configure_logging(Settings(log_format=LogFormat.JSON, data_dir=tmp_path))
    try:
        raise ValueError("no reachable contact for Marisol Quintero at +15035550199")
    except ValueError:
        structlog.get_logger("crisisdesk.test").exception(
            "api.unexpected_error", error_type="ValueError"
        )
    out = capsys.readouterr().err
    [line] = _json_lines(out)
    assert line["error_type"] == "ValueError"
    assert "ValueError" in str(line.get("exception", ""))
    assert "Marisol" not in out
    assert "+15035550199" not in out


MARISOL = ("Marisol", "Quintero-Vance", "+15035550199", "sertraline")


def _refused_insert(tmp_path: Path) -> Exception:
    """A real statement the database refuses, carrying a client's name, phone and note."""
    engine = make_sync_engine(f"sqlite:///{tmp_path / 'refuses.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(
                text("CREATE TABLE client (name TEXT, phone TEXT, notes TEXT CHECK (notes = ''))")
            )
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO client VALUES (:name, :phone, :notes)"),
                {
                    "name": "Marisol Quintero-Vance",
                    "phone": "+15035550199",
                    "notes": "Took 30 pills of sertraline",
                },
            )
    except DBAPIError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("the insert was not refused")


def test_a_database_error_does_not_quote_its_parameters(tmp_path: Path) -> None:
    error = _refused_insert(tmp_path)
    assert "INSERT INTO client" in str(error)
    for phi in MARISOL:
        assert phi not in str(error)


@pytest.mark.usefixtures("restore_logging")
def test_standard_library_logs_of_a_failed_statement_pass_the_same_redaction(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    configure_logging(Settings(log_format=LogFormat.JSON, data_dir=tmp_path))
    error = _refused_insert(tmp_path)
    # As Temporal's SDK logs a failed activity, and uvicorn an exception in the app.
    try:
        raise RuntimeError("could not record Marisol Quintero-Vance (+15035550199)") from error
    except RuntimeError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("some.library").warning("texted +15035550199 at marisol@example.org")
    out = capsys.readouterr().err
    lines = _json_lines(out)
    assert [line["event"] for line in lines] == [
        f"temporalio.activity: {EXCEPTION_MESSAGE_WITHHELD}",
        f"uvicorn.error: {EXCEPTION_MESSAGE_WITHHELD}",
        f"texted {REDACTED} at {REDACTED}",
    ]
    assert "sqlalchemy.exc.IntegrityError" in str(lines[0]["exception"])
    assert "RuntimeError" in str(lines[0]["exception"])
    for phi in (*MARISOL, "marisol@example.org"):
        assert phi not in out


# A database's refusal quotes the row: psycopg's DETAIL line names the client.
DETAIL = "DETAIL:  Key (last_name, first_name)=(Quintero-Vance, Marisol) already exists."


class UniqueViolationError(Exception):
    """Stands in for psycopg's: its text is the server's message with the DETAIL line."""


async def _fails_with_the_row() -> None:
    raise UniqueViolationError(f"duplicate key value violates unique constraint\n{DETAIL}")


@pytest.mark.usefixtures("restore_logging")
def test_an_asyncio_task_exception_never_retrieved_does_not_quote_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """asyncio writes the exception's text into the message itself ("Task exception was never
    retrieved ... exception=UniqueViolationError('...')"): none of the text reaches the log."""
    configure_logging(Settings(log_format=LogFormat.JSON, data_dir=tmp_path))
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(_fails_with_the_row())
        loop.run_until_complete(asyncio.sleep(0.01))
        assert task.done()
        del task  # never awaited: asyncio reports it when the task is collected
        gc.collect()
    finally:
        loop.close()
    out = capsys.readouterr().err

    for phi in ("Marisol", "Quintero"):
        assert phi not in out
    [line] = [line for line in _json_lines(out) if line["logger"] == "asyncio"]
    assert line["event"] == f"asyncio: {EXCEPTION_MESSAGE_WITHHELD}"
    assert line["level"] == "error"
    assert "UniqueViolationError" in str(line["exception"])
    assert "_fails_with_the_row" in str(line["exception"])  # the frames stay


@pytest.mark.usefixtures("restore_logging")
def test_a_message_that_embeds_an_exception_keeps_its_format_string_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    configure_logging(Settings(log_format=LogFormat.JSON, data_dir=tmp_path))
    error = UniqueViolationError(DETAIL)
    library = logging.getLogger("some.library")
    # An exception passed as an argument: the format string stays, its arguments do not.
    library.warning("retrying %s after %s", "insert", error)
    # Formatted before logging (an f-string), with the exception being handled: withheld whole.
    try:
        raise RuntimeError("could not build the failure")
    except RuntimeError:
        library.exception(f"Failed building failure, original error: {error}")
    # Asyncio's messages are withheld even without an exception attached.
    logging.getLogger("asyncio").warning(f"Executing <Task exception={error!r}> took 0.2 s")
    # A message that is about no exception keeps its words.
    library.info("pool %s recycled after %d s", "primary", 30)
    out = capsys.readouterr().err

    for phi in ("Marisol", "Quintero"):
        assert phi not in out
    assert [line["event"] for line in _json_lines(out)] == [
        "retrying %s after %s",
        f"some.library: {EXCEPTION_MESSAGE_WITHHELD}",
        f"asyncio: {EXCEPTION_MESSAGE_WITHHELD}",
        "pool primary recycled after 30 s",
    ]


@pytest.mark.usefixtures("restore_logging")
def test_an_access_line_has_no_query_string_no_token_and_no_address(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    configure_logging(Settings(log_format=LogFormat.JSON, data_dir=tmp_path))
    access = logging.getLogger("uvicorn.access")
    incident_id = str(uuid.uuid4())
    token = "eyJpbmNpZGVudF9pZCI6IjEyMyJ9.c2lnbmF0dXJlLW9mLXRoZS1saW5r"
    for path in (
        f"/v1/acks/{token}",
        "/v1/resources/search?lat=45.5231&lon=-122.6765",
        "/sos/ZGV2aWNlLXRva2VuLW9mLWFuYQ",
        f"/v1/incidents/{incident_id}",
    ):
        access.info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:51234", "GET", path, "1.1", 200)
    out = capsys.readouterr().err
    for secret in (token, "45.5231", "122.6765", "ZGV2aWNlLXRva2VuLW9mLWFuYQ", "203.0.113.9"):
        assert secret not in out
    paths = [line["path"] for line in _json_lines(out)]
    assert paths == [
        f"/v1/acks/{REDACTED}",
        "/v1/resources/search",
        f"/sos/{REDACTED}",
        f"/v1/incidents/{incident_id}",
    ]
