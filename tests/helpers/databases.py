"""Where the test PostgreSQL server is, and the URL of one database on it."""

from __future__ import annotations

import os

PG_ADMIN_URL = os.environ.get("CRISISDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"
