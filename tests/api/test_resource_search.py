"""Finding help near the client: the nearest resources of the program, open now, by kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from api.app import create_app
from domain.geo import Coordinates, haversine_km
from domain.models.programs import ProgramCreate
from domain.models.resources import ResourceCreate
from domain.vocabulary import ResourceKind, Role
from infra.db import transaction
from infra.directory import nearest_resources
from infra.records import add_resource, create_program
from infra.settings import Settings
from tests.helpers.problems import assert_invalid, assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import KEYRING

PORTLAND_97201 = Coordinates(lat=45.5078, lon=-122.6897)
CLOSED_ALL_WEEK = {d: "closed" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest_asyncio.fixture(loop_scope="session")
async def http(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on the test's database; the directory never touches Temporal, so no worker."""
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, encryption_keys=KEYRING.render()
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await app.state.runtime.close()


async def add(
    http: httpx.AsyncClient, program: DemoProgram, name: str, lat: float, lon: float, **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "kind": "emergency_room", "phone": "+15035550000", "lat": lat, "lon": lon}
    response = await http.post(
        "/v1/resources", json={**body, **extra}, headers=program.auth(Role.ADMIN)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def nearby(
    http: httpx.AsyncClient, program: DemoProgram, role: Role = Role.CLINICIAN, **params: Any
) -> dict[str, Any]:
    response = await http.get("/v1/resources/nearby", params=params, headers=program.auth(role))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def portland(http: httpx.AsyncClient, program: DemoProgram) -> None:
    await add(http, program, "Unity Center", 45.5317, -122.6637, kind="crisis_center")
    await add(http, program, "OHSU Emergency", 45.4992, -122.6865)
    await add(http, program, "One Degree North ER", 46.5078, -122.6897)
    await add(http, program, "Goose Hollow Detox", 45.5200, -122.6900, kind="detox")
    await add(http, program, "Downtown Mobile Crisis", 45.5152, -122.6784, kind="mobile_crisis")


# --- the API -------------------------------------------------------------------------------


async def test_the_nearest_resources_to_a_zip_code_come_first_with_their_distance(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    await portland(http, program)
    found = await nearby(http, program, zip="97201")

    assert found["origin"] == {"lat": 45.5078, "lon": -122.6897, "zip": "97201"}
    names = [r["name"] for r in found["data"]]
    assert names == [
        "OHSU Emergency",
        "Downtown Mobile Crisis",
        "Goose Hollow Detox",
        "Unity Center",
        "One Degree North ER",
    ]
    assert found["count"] == 5
    distances = [r["distance_km"] for r in found["data"]]
    assert distances == sorted(distances)
    assert distances[-1] == 111.2  # R * pi / 180 = 111.1951 km, due north along the meridian
    for row in found["data"]:
        here = Coordinates(lat=row["lat"], lon=row["lon"])
        assert row["distance_km"] == round(haversine_km(PORTLAND_97201, here), 2)
        assert row["open_now"] is True
        assert {"id", "phone", "kind", "services", "hours"} <= row.keys()

    first_two = await nearby(http, program, zip="97201", limit=2)
    assert [r["name"] for r in first_two["data"]] == names[:2]
    assert first_two["count"] == 2


async def test_a_search_from_coordinates_breaks_distance_ties_by_name(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    await add(http, program, "Zeta Urgent Care", 40.7394, -73.9754, kind="urgent_care")
    await add(http, program, "Alpha Urgent Care", 40.7394, -73.9754, kind="urgent_care")
    await add(http, program, "Portland ER", 45.4992, -122.6865)
    found = await nearby(http, program, lat=40.75, lon=-73.99)
    assert found["origin"] == {"lat": 40.75, "lon": -73.99, "zip": None}
    assert [r["name"] for r in found["data"]] == [
        "Alpha Urgent Care",
        "Zeta Urgent Care",
        "Portland ER",
    ]


async def test_kinds_narrow_the_search_and_repeat(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    await portland(http, program)
    ers = await nearby(http, program, zip="97201", kind="emergency_room")
    assert [r["name"] for r in ers["data"]] == ["OHSU Emergency", "One Degree North ER"]
    both = await nearby(http, program, zip="97201", kind=["detox", "crisis_center"])
    assert [r["name"] for r in both["data"]] == ["Goose Hollow Detox", "Unity Center"]
    none = await nearby(http, program, zip="97201", kind="residential")
    assert none == {"origin": ers["origin"], "data": [], "count": 0}


async def test_only_resources_open_now_unless_asked_for_all(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    await add(http, program, "Shuttered Clinic", 45.5080, -122.6890, hours=CLOSED_ALL_WEEK)
    await add(http, program, "Unknown Hours Clinic", 45.5081, -122.6890, open_24_7=False)
    await add(http, program, "OHSU Emergency", 45.4992, -122.6865)

    open_now = await nearby(http, program, zip="97201")
    assert [r["name"] for r in open_now["data"]] == ["OHSU Emergency"]

    everything = await nearby(http, program, zip="97201", open_now="false")
    by_name = {r["name"]: r["open_now"] for r in everything["data"]}
    assert by_name == {
        "Shuttered Clinic": False,
        "Unknown Hours Clinic": False,
        "OHSU Emergency": True,
    }
    assert everything["data"][0]["name"] == "Shuttered Clinic"


async def test_another_programs_resources_never_appear(
    http: httpx.AsyncClient,
    program: DemoProgram,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    other = await make_program(sessions, slug="other")
    await add(http, other, "Their ER at the centroid", 45.5078, -122.6897)
    await add(http, program, "Our ER", 45.4992, -122.6865)

    ours = await nearby(http, program, zip="97201", open_now="false")
    assert [r["name"] for r in ours["data"]] == ["Our ER"]
    theirs = await nearby(http, other, zip="97201", open_now="false")
    assert [r["name"] for r in theirs["data"]] == ["Their ER at the centroid"]


async def test_clinicians_supervisors_and_admins_search_and_others_may_not(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    await add(http, program, "OHSU Emergency", 45.4992, -122.6865)
    for role in (Role.CLINICIAN, Role.SUPERVISOR, Role.ADMIN):
        assert (await nearby(http, program, role, zip="97201"))["count"] == 1
    followup = await http.get(
        "/v1/resources/nearby", params={"zip": "97201"}, headers=program.auth(Role.FOLLOWUP)
    )
    assert_problem(followup, 403)
    assert_problem(await http.get("/v1/resources/nearby", params={"zip": "97201"}), 401)


async def test_a_search_without_a_place_on_the_map_is_422_naming_the_field(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    clinician = program.auth(Role.CLINICIAN)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"zip": "00000"}, "zip"),
        ({"zip": "972"}, "zip"),
        ({}, "zip"),
        ({"lat": 45.5}, "lon"),
        ({"lon": -122.6}, "lat"),
        ({"zip": "97201", "lat": 45.5, "lon": -122.6}, "zip"),
        ({"lat": 95, "lon": -122.6}, "lat"),
        ({"zip": "97201", "limit": 0}, "limit"),
        ({"zip": "97201", "limit": 51}, "limit"),
        ({"zip": "97201", "kind": "spa"}, "kind"),
    ]
    for params, field in cases:
        response = await http.get("/v1/resources/nearby", params=params, headers=clinician)
        assert_invalid(response, field)
    unknown = await http.get("/v1/resources/nearby", params={"zip": "00000"}, headers=clinician)
    assert "00000 is not a known US zip code" in unknown.json()["detail"]


async def test_opening_hours_are_checked_when_a_resource_is_created(
    http: httpx.AsyncClient, program: DemoProgram
) -> None:
    admin = program.auth(Role.ADMIN)
    body = {
        "name": "Clinic",
        "kind": "urgent_care",
        "phone": "+15035550000",
        "lat": 45,
        "lon": -122,
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"hours": {"mon": "8am-5pm"}}, "hours"),
        ({"hours": {"mon": "09:00-09:00"}}, "hours"),
        ({"hours": {"monday": "09:00-17:00"}}, "hours"),
        ({"hours": {"mon": "09:00-17:00"}, "open_24_7": True}, "open_24_7"),
    ]
    for extra, field in cases:
        response = await http.post("/v1/resources", json={**body, **extra}, headers=admin)
        problem = assert_invalid(response, field)
        if field == "hours" and "monday" not in str(extra):
            assert "hours.mon" in str(problem["detail"])
    assert (await http.get("/v1/resources", headers=admin)).json()["count"] == 0

    created = await http.post(
        "/v1/resources",
        json={**body, "hours": {"sun": "Closed", "fri": "20:00-02:00"}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["open_24_7"] is False
    assert created.json()["hours"] == {"fri": "20:00-02:00", "sun": "closed"}


# --- the search under the API, at a fixed instant ------------------------------------------


async def test_open_at_is_read_on_the_programs_clock(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    weekdays = {d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    async with transaction(sessions) as session:
        east = await create_program(
            session,
            data=ProgramCreate(slug="east", name="East IOP", timezone="America/New_York"),
        )
        for name, lat, hours in [
            ("Weekday Clinic", 40.7400, {**weekdays, "sun": "closed"}),
            ("Late Clinic", 40.7410, {"fri": "18:00-02:00"}),
            ("Bellevue ER", 40.7394, {}),
        ]:
            await add_resource(
                session,
                program_id=east.id,
                data=ResourceCreate(
                    name=name,
                    kind=ResourceKind.URGENT_CARE if hours else ResourceKind.EMERGENCY_ROOM,
                    phone="+12125550000",
                    lat=lat,
                    lon=-73.9754,
                    hours=hours,
                ),
            )
    origin = Coordinates(lat=40.7394, lon=-73.9754)

    async def open_at(instant: datetime, kinds: set[ResourceKind] | None = None) -> list[str]:
        async with sessions() as session:
            found = await nearest_resources(
                session, program_id=east.id, origin=origin, kinds=kinds, open_at=instant, limit=10
            )
        return [r.name for r, _ in found]

    # Sunday noon in New York: the weekday clinic is closed all day.
    assert await open_at(datetime(2025, 1, 12, 17, 0, tzinfo=UTC)) == ["Bellevue ER"]
    # Monday 19:30 in New York (00:30 on Tuesday in UTC): open on the program's clock.
    monday_evening = datetime(2025, 1, 7, 0, 30, tzinfo=UTC)
    assert await open_at(monday_evening) == ["Bellevue ER", "Weekday Clinic"]
    # Saturday 01:30 in New York: Friday's late span runs past midnight; 02:00 it has closed.
    assert await open_at(datetime(2025, 1, 11, 6, 30, tzinfo=UTC)) == [
        "Bellevue ER",
        "Late Clinic",
    ]
    assert await open_at(datetime(2025, 1, 11, 7, 0, tzinfo=UTC)) == ["Bellevue ER"]
    assert await open_at(monday_evening, {ResourceKind.URGENT_CARE}) == ["Weekday Clinic"]
