"""Alembic migrations: an empty database reaches head, and head matches the models exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import domain.models  # noqa: F401  (registers every table on SQLModel.metadata)
from infra.db import make_sync_engine
from infra.migrate import alembic_config, upgrade_database
from tests.helpers.databases import PG_ADMIN_URL, pg_url

EXPECTED_TABLES = {
    "program",
    "staff",
    "client",
    "emergency_contact",
    "consent",
    "resource",
    "incident",
    "decision",
    "notification",
    "dispatch",
    "followup_task",
    "audit_event",
    "client_device",
    "sos_outbox",
    "break_glass_grant",
    "sos_press_count",
}
CLI = str(Path(sys.executable).parent / "crisisdesk")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (not the migrated template the other tests copy)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"crisisdesk_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_url(name)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    engine = make_sync_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _schema_drift(url: str) -> list[object]:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": False}
            )
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_an_empty_database_migrates_to_head_with_every_table(empty_database: str) -> None:
    assert _tables(empty_database) == set()

    upgrade_database(empty_database)

    assert _tables(empty_database) >= EXPECTED_TABLES | {"alembic_version"}
    assert _revision(empty_database) == _head()


def test_the_migrated_schema_matches_the_models(empty_database: str) -> None:
    upgrade_database(empty_database)
    assert _schema_drift(empty_database) == []


def test_migrating_a_database_at_head_again_changes_nothing(empty_database: str) -> None:
    upgrade_database(empty_database)
    upgrade_database(empty_database)
    assert _revision(empty_database) == _head()
    assert _schema_drift(empty_database) == []


def _enum_types(url: str) -> set[str]:
    engine = make_sync_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            return set()
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT typname FROM pg_type WHERE typtype = 'e'")
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_everything_so_upgrade_can_rebuild(
    empty_database: str,
) -> None:
    upgrade_database(empty_database)

    command.downgrade(alembic_config(empty_database), "base")
    assert _tables(empty_database) - {"alembic_version"} == set()
    assert _enum_types(empty_database) == set()

    upgrade_database(empty_database)
    assert _tables(empty_database) >= EXPECTED_TABLES
    assert _schema_drift(empty_database) == []


def test_the_cli_migrates_a_fresh_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRISISDESK_")},
        "CRISISDESK_DATA_DIR": str(data_dir),
    }
    finished = subprocess.run(
        [CLI, "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 0, finished.stderr
    database = data_dir / "crisisdesk.db"
    assert database.exists()
    assert _tables(f"sqlite:///{database}") >= EXPECTED_TABLES
