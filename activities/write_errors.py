"""How a case-file write fails: retried (the database is down, or a concurrent audit append took
the sequence number) or refused for good (a fact the database will refuse again).

The workflows retry the first within a budget and never retry the second (`ProjectionDataError`):
they show it on the incident, page a supervisor once, and carry on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from temporalio.exceptions import ApplicationError

PROJECTION_DATA_ERROR = "ProjectionDataError"


@asynccontextmanager
async def classified_write_errors(what: str) -> AsyncIterator[None]:
    """Turn the database's refusals into the two failures the workflows tell apart. Reasons
    name the error class and constraint, never the values (they may be PHI)."""
    try:
        yield
    except OperationalError as error:
        raise RuntimeError(f"{what}: database unavailable ({type(error).__name__})") from None
    except (IntegrityError, DataError) as error:
        if _is_unique_violation(error):
            raise RuntimeError(f"{what}: concurrent write, will retry") from None
        raise ApplicationError(
            f"{what} refused by the database: {_constraint(error)}", type=PROJECTION_DATA_ERROR
        ) from None


def _is_unique_violation(error: DBAPIError) -> bool:
    """PostgreSQL's SQLSTATE 23505, or SQLite's message for the same."""
    code = getattr(error.orig, "sqlstate", None)
    return code == "23505" or "UNIQUE constraint failed" in str(error.orig)


def _constraint(error: DBAPIError) -> str:
    """What was refused, without the values: the error class, SQLSTATE and constraint name."""
    diag = getattr(error.orig, "diag", None)
    name = getattr(diag, "constraint_name", None) if diag is not None else None
    code = getattr(error.orig, "sqlstate", None)
    return type(error).__name__ + (f" {code}" if code else "") + (f" ({name})" if name else "")
