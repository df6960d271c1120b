"""The resource directory's search and bulk import: a program's resources nearest to a point,
and resources read from a CSV file (all rows valid, or none imported)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.geo import Coordinates, coordinates_for_zip, haversine_km
from domain.hours import is_open
from domain.models import Program, Resource
from domain.models.resources import ResourceCreate
from domain.vocabulary import ResourceKind
from infra.records import add_resource

CSV_COLUMNS = (
    "name",
    "kind",
    "phone",
    "address",
    "zip",
    "lat",
    "lon",
    "region",
    "open_24_7",
    "hours",
    "services",
)


async def program_zone(session: AsyncSession, program_id: uuid.UUID) -> ZoneInfo:
    """The program's timezone: the clock its resources' opening hours are written on."""
    program = await session.get(Program, program_id)
    if program is None:
        raise LookupError(f"no program {program_id}")
    return ZoneInfo(program.timezone)


async def nearest_resources(
    session: AsyncSession,
    *,
    program_id: uuid.UUID,
    origin: Coordinates,
    kinds: set[ResourceKind] | None,
    open_at: datetime | None,
    limit: int,
) -> list[tuple[Resource, float]]:
    """The program's resources nearest to `origin`, nearest first (ties by name), each with its
    distance in km; only the given kinds (None or empty: every kind), and only those open at
    `open_at` (an aware instant; None: open or not).

    A program's directory holds hundreds of rows, so SQL narrows by program and kind and the
    distances are computed here: no search radius to guess (a nearest resource is found however
    far it is) and no bounding box to get wrong across the antimeridian or near a pole.
    """
    query = select(Resource).where(Resource.program_id == program_id)
    if kinds:
        query = query.where(col(Resource.kind).in_(sorted(kinds)))
    rows = (await session.exec(query)).all()
    if open_at is not None:
        zone = await program_zone(session, program_id)
        rows = [
            r for r in rows if is_open(open_24_7=r.open_24_7, hours=r.hours, zone=zone, at=open_at)
        ]
    measured = [(r, haversine_km(origin, Coordinates(lat=r.lat, lon=r.lon))) for r in rows]
    measured.sort(key=lambda pair: (pair[1], pair[0].name))
    return measured[:limit]


# --- CSV import ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one line of a resource file cannot be imported."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class ResourceFileError(ValueError):
    """A resource file with at least one bad row; nothing of it is imported."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the resource file")
        self.problems = problems


def read_resource_csv(lines: Iterable[str]) -> list[ResourceCreate]:
    """Every row of a resource CSV, validated as the API validates a new resource.

    Columns are `CSV_COLUMNS` (header required, any order). Blank cells take the API's defaults;
    `hours` is `mon=08:00-20:00;tue=...`, `services` is `a|b`; a row with a zip code and no
    lat/lon is placed at the zip code's centroid. Raises `ResourceFileError` listing every bad
    row by its line number and field.
    """
    reader = csv.DictReader(lines)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        wrong = [f"missing {', '.join(missing)}"] if missing else []
        wrong += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise ResourceFileError([RowProblem(1, "header", "; ".join(wrong))])
    reader.fieldnames = header
    resources: list[ResourceCreate] = []
    problems: list[RowProblem] = []
    for row in reader:
        line = reader.line_num
        fields, row_problems = _resource_fields(row, line)
        if not row_problems:
            try:
                resources.append(ResourceCreate.model_validate(fields))
            except ValidationError as error:
                row_problems = [_row_problem(line, e) for e in error.errors()]
        problems += row_problems
    if problems:
        raise ResourceFileError(problems)
    return resources


async def import_resources(
    session: AsyncSession, *, program_id: uuid.UUID, resources: Sequence[ResourceCreate]
) -> int:
    """Add every resource to the program in the caller's transaction; answers how many."""
    for data in resources:
        await add_resource(session, program_id=program_id, data=data)
    return len(resources)


def _resource_fields(
    row: dict[str, str | None], line: int
) -> tuple[dict[str, Any], list[RowProblem]]:
    cells = {k: (v or "").strip() for k, v in row.items() if k in CSV_COLUMNS}
    fields: dict[str, Any] = {k: v for k, v in cells.items() if v}
    problems: list[RowProblem] = []
    if "services" in fields:
        fields["services"] = [s.strip() for s in fields["services"].split("|") if s.strip()]
    if "hours" in fields:
        try:
            fields["hours"] = _hours_cell(fields["hours"])
        except ValueError as error:
            problems.append(RowProblem(line, "hours", str(error)))
    problems += _typed_cells(fields, line)
    if "lat" not in fields and "lon" not in fields:
        zip_code = fields.get("zip")
        if zip_code is None:
            problems.append(RowProblem(line, "lat", "give lat and lon, or a zip to take them from"))
        elif (centroid := coordinates_for_zip(zip_code)) is not None:
            fields["lat"], fields["lon"] = centroid.lat, centroid.lon
        else:
            problems.append(RowProblem(line, "zip", f"{zip_code} is not a known US zip code"))
    return fields, problems


_TRUE, _FALSE = frozenset({"true", "yes", "1"}), frozenset({"false", "no", "0"})


def _typed_cells(fields: dict[str, Any], line: int) -> list[RowProblem]:
    """Cells are text; a resource's coordinates are numbers and `open_24_7` is true or false
    (the model takes each only as its JSON type)."""
    problems: list[RowProblem] = []
    for name in ("lat", "lon"):
        if name in fields:
            try:
                fields[name] = float(fields[name])
            except ValueError:
                problems.append(RowProblem(line, name, "must be a number"))
    if "open_24_7" in fields:
        flag = fields["open_24_7"].lower()
        if flag in _TRUE | _FALSE:
            fields["open_24_7"] = flag in _TRUE
        else:
            problems.append(RowProblem(line, "open_24_7", "must be true or false"))
    return problems


def _hours_cell(cell: str) -> dict[str, str]:
    hours: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in cell.split(";"))):
        day, sep, value = entry.partition("=")
        day = day.strip()
        if not sep or not day:
            raise ValueError(f"{entry!r} is not day=HH:MM-HH:MM, e.g. mon=08:00-20:00")
        if day in hours:
            raise ValueError(f"{day} is given twice")
        hours[day] = value.strip()
    return hours


def _row_problem(line: int, error: Any) -> RowProblem:
    field = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    # A rule that names its own field says so first: "hours.mon: ...", "open_24_7: ...".
    named, sep, rest = message.partition(": ")
    if sep and (not field or named.split(".")[0] == field):
        return RowProblem(line, named, rest)
    return RowProblem(line, field or "row", message)
