"""A request's database connection cut by a PostgreSQL restart after the route has answered must
not break that answer: found by the PostgreSQL drill, where a clinician's accepted decision came
back as a dropped connection because closing the session failed to roll back."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from api.deps import get_session
from api.runtime import Runtime
from infra.db import make_async_engine, session_factory
from infra.settings import Settings
from tests.helpers.databases import PG_ADMIN_URL
from tests.helpers.stack import KEYRING

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def test_a_connection_cut_after_the_answer_does_not_fail_the_request(
    database_url: str,
) -> None:
    engine = make_async_engine(database_url)
    runtime = Runtime(
        settings=Settings(database_url=database_url, encryption_keys=KEYRING.render()),
        engine=engine,
        sessions=session_factory(engine),
    )
    dependency = get_session(runtime)
    session = await anext(dependency)
    # The route reads (a transaction is open on a pooled connection) and answers ...
    backend = (await session.exec(text("SELECT pg_backend_pid()"))).scalar_one()  # type: ignore[call-overload]
    # ... and PostgreSQL restarts: the server ends that session.
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    # The dependency's teardown runs after the answer has started: it must not raise.
    with pytest.raises(StopAsyncIteration):
        await anext(dependency)
    # And the pool hands out a working connection to the next request.
    next_session = await anext(get_session(runtime))
    assert (await next_session.exec(text("SELECT 1"))).scalar_one() == 1  # type: ignore[call-overload]
    await next_session.close()
    await engine.dispose()
