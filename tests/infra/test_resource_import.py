"""Loading a program's resource directory from a CSV file: every row valid, or nothing."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.geo import coordinates_for_zip
from domain.models import Resource
from domain.vocabulary import ResourceKind
from infra.db import transaction
from infra.directory import ResourceFileError, import_resources, read_resource_csv
from infra.seed import DEMO_RESOURCES
from tests.helpers.programs import DemoProgram

CLI = str(Path(sys.executable).parent / "crisisdesk")
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "resources.example.csv"
HEADER = "name,kind,phone,address,zip,lat,lon,region,open_24_7,hours,services\n"
GOOD = (
    HEADER
    + 'OHSU Emergency,emergency_room,+15034948311,"3181 SW Sam Jackson Park Rd, Portland, OR",'
    + "97239,45.4992,-122.6865,Portland,true,,emergency|psychiatric\n"
    + "Night Clinic,urgent_care,+15035550190,,97201,,,Portland,,"
    + "mon=08:00-20:00;fri=20:00-02:00;sun=closed,urgent_care| walk_in \n"
)
BAD = (
    HEADER
    + "Fine ER,emergency_room,+15034948311,,97239,45.4992,-122.6865,,,,\n"
    + "Bad Hours,urgent_care,+15035550190,,97201,,,,,mon=8am-5pm,\n"
    + "Nowhere,detox,+15035550191,,00000,,,,,,\n"
    + "Off the Globe,detox,+15035550192,,,95,-122.6,,,,\n"
    + "No Phone,detox,,,97201,,,,,,\n"
)


async def names(sessions: async_sessionmaker[AsyncSession], program: DemoProgram) -> list[str]:
    async with sessions() as session:
        rows = await session.exec(
            select(Resource.name)
            .where(Resource.program_id == program.program.id)
            .order_by(col(Resource.name))
        )
        return list(rows.all())


async def test_a_good_file_is_imported_with_coordinates_from_the_zip_code(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram
) -> None:
    resources = read_resource_csv(io.StringIO(GOOD))
    async with transaction(sessions) as session:
        imported = await import_resources(
            session, program_id=program.program.id, resources=resources
        )
    assert imported == 2
    assert await names(sessions, program) == ["Night Clinic", "OHSU Emergency"]

    async with sessions() as session:
        clinic = (await session.exec(select(Resource).where(Resource.name == "Night Clinic"))).one()
    centroid = coordinates_for_zip("97201")
    assert centroid is not None
    assert (clinic.lat, clinic.lon) == (centroid.lat, centroid.lon)
    assert clinic.kind == ResourceKind.URGENT_CARE
    assert clinic.open_24_7 is False
    assert clinic.hours == {"mon": "08:00-20:00", "fri": "20:00-02:00", "sun": "closed"}
    assert clinic.services == ["urgent_care", "walk_in"]


def test_every_bad_row_is_named_by_line_and_field() -> None:
    with pytest.raises(ResourceFileError) as raised:
        read_resource_csv(io.StringIO(BAD))
    found = {(p.line, p.field.split(".")[0]) for p in raised.value.problems}
    assert found == {(3, "hours"), (4, "zip"), (5, "lat"), (6, "phone")}
    [hours] = [p for p in raised.value.problems if p.line == 3]
    assert str(hours).startswith("line 3: hours.mon: ")


def test_a_file_with_wrong_columns_is_refused_at_its_header() -> None:
    with pytest.raises(ResourceFileError) as raised:
        read_resource_csv(io.StringIO("name,kind,phone,fax\nER,emergency_room,+15035550000,1\n"))
    [problem] = raised.value.problems
    assert problem.line == 1
    assert "missing address" in problem.message
    assert "unknown fax" in problem.message


def test_a_malformed_hours_cell_names_the_hours_field() -> None:
    row = "Clinic,urgent_care,+15035550190,,97201,,,,,mon 08:00-20:00,\n"
    with pytest.raises(ResourceFileError) as raised:
        read_resource_csv(io.StringIO(HEADER + row))
    [problem] = raised.value.problems
    assert (problem.line, problem.field) == (2, "hours")


def test_the_example_file_holds_the_demo_resources() -> None:
    with EXAMPLE.open(encoding="utf-8-sig", newline="") as lines:
        assert read_resource_csv(lines) == DEMO_RESOURCES


async def test_the_cli_imports_all_or_nothing(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    program: DemoProgram,
    tmp_path: Path,
) -> None:
    env = {**os.environ, "CRISISDESK_DATABASE_URL": database_url}
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "resources", "import", *args], env=env, capture_output=True, text=True
        )

    refused = await asyncio.to_thread(cli, str(bad), "--program", "demo")
    assert refused.returncode == 1
    assert "line 3: hours.mon:" in refused.stderr
    assert "line 4: zip: 00000 is not a known US zip code" in refused.stderr
    assert "nothing imported" in refused.stderr
    assert await names(sessions, program) == []

    imported = await asyncio.to_thread(cli, str(EXAMPLE), "--program", "demo")
    assert imported.returncode == 0, imported.stderr
    assert f"imported {len(DEMO_RESOURCES)} resources" in imported.stdout
    assert await names(sessions, program) == sorted(r.name for r in DEMO_RESOURCES)

    unknown = await asyncio.to_thread(cli, str(EXAMPLE), "--program", "nope")
    assert unknown.returncode == 1
    assert "no program 'nope'" in unknown.stderr
