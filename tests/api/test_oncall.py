"""The on-call API (SPEC 10.4): rotations and overrides are checked and audited, another
program's staff are not found, and `now` says who is on call and why."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.models import AuditEvent, Staff
from domain.models.programs import StaffCreate
from domain.vocabulary import Role
from infra.db import transaction
from infra.records import create_staff
from tests.helpers.problems import assert_invalid, assert_problem
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack

NOW = datetime.now(UTC).replace(microsecond=0)


async def clinician(sessions: async_sessionmaker[AsyncSession], program: DemoProgram) -> Staff:
    async with transaction(sessions) as session:
        member, _ = await create_staff(
            session,
            program_id=program.program.id,
            data=StaffCreate(name="Second clinician", role=Role.CLINICIAN),
        )
    return member


def rotation(people: list[Any], **changes: Any) -> dict[str, Any]:
    return {
        "name": "Clinicians",
        "role": "clinician",
        "members": [str(m) for m in people],
        "shift_hours": 12,
        "first_handoff": (NOW - timedelta(hours=1)).isoformat(),
        "time_zone": "America/Los_Angeles",
        **changes,
    }


async def test_a_rotation_puts_its_member_on_call_now_and_is_listed_and_audited(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first, second = program.staff[Role.CLINICIAN], await clinician(sessions, program)
    created = await stack.http.post(
        "/v1/oncall/rotations",
        json=rotation([first.id, second.id]),
        headers=program.auth(Role.ADMIN),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["members"] == [str(first.id), str(second.id)]
    assert body["first_handoff_local"].endswith("-08:00")  # Pacific standard time

    now = await stack.http.get("/v1/oncall/now", headers=program.auth(Role.FOLLOWUP))
    assert now.status_code == 200, now.text
    clinicians = [e for e in now.json()["data"] if e["role"] == "clinician"]
    assert [(e["staff_id"], e["source"], e["name"]) for e in clinicians] == [
        (str(first.id), "rotation", first.name)
    ]
    until = datetime.fromisoformat(clinicians[0]["until"])
    assert until == NOW + timedelta(hours=11)
    supervisors = [e for e in now.json()["data"] if e["role"] == "supervisor"]
    assert [(e["staff_id"], e["source"]) for e in supervisors] == [
        (str(program.staff[Role.SUPERVISOR].id), "flag")
    ]

    listed = await stack.http.get("/v1/oncall/rotations", headers=program.auth(Role.CLINICIAN))
    assert [r["id"] for r in listed.json()["data"]] == [body["id"]]
    async with sessions() as session:
        audit = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "oncall.rotation_created")
            )
        ).all()
    assert [(a.actor_id, a.detail["id"]) for a in audit] == [
        (str(program.staff[Role.ADMIN].id), body["id"])
    ]


async def test_an_override_wins_over_the_rotation_and_is_audited_with_its_reason(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first, second = program.staff[Role.CLINICIAN], await clinician(sessions, program)
    await stack.http.post(
        "/v1/oncall/rotations", json=rotation([first.id]), headers=program.auth(Role.ADMIN)
    )
    made = await stack.http.post(
        "/v1/oncall/overrides",
        json={
            "staff_id": str(second.id),
            "starts_at": (NOW - timedelta(minutes=5)).isoformat(),
            "ends_at": (NOW + timedelta(hours=2)).isoformat(),
            "reason": "first clinician is sick",
        },
        headers=program.auth(Role.SUPERVISOR),
    )
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "clinician"
    now = (await stack.http.get("/v1/oncall/now", headers=program.auth(Role.CLINICIAN))).json()
    clinicians = [e for e in now["data"] if e["role"] == "clinician"]
    assert [(e["staff_id"], e["source"]) for e in clinicians] == [(str(second.id), "override")]
    assert datetime.fromisoformat(clinicians[0]["until"]) == NOW + timedelta(hours=2)
    async with sessions() as session:
        audit = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "oncall.override_created")
            )
        ).one()
    assert audit.detail["reason"] == "first clinician is sick"
    assert audit.actor_id == str(program.staff[Role.SUPERVISOR].id)


async def test_members_must_be_active_staff_of_the_role_and_of_the_program(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = program.auth(Role.ADMIN)
    other = await make_program(sessions, "other")
    foreign = await stack.http.post(
        "/v1/oncall/rotations", json=rotation([other.staff[Role.CLINICIAN].id]), headers=admin
    )
    unknown = await stack.http.post(
        "/v1/oncall/rotations", json=rotation([uuid.uuid4()]), headers=admin
    )
    assert assert_problem(foreign, 404) == assert_problem(unknown, 404)
    wrong_role = await stack.http.post(
        "/v1/oncall/rotations", json=rotation([program.staff[Role.SUPERVISOR].id]), headers=admin
    )
    assert_invalid(wrong_role, "members")
    away = await stack.http.post(
        "/v1/oncall/overrides",
        json={
            "staff_id": str(other.staff[Role.CLINICIAN].id),
            "starts_at": NOW.isoformat(),
            "ends_at": (NOW + timedelta(hours=1)).isoformat(),
            "reason": "cover",
        },
        headers=admin,
    )
    assert assert_problem(away, 404) == assert_problem(unknown, 404)
    followup = await stack.http.post(
        "/v1/oncall/overrides",
        json={
            "staff_id": str(program.staff[Role.FOLLOWUP].id),
            "starts_at": NOW.isoformat(),
            "ends_at": (NOW + timedelta(hours=1)).isoformat(),
            "reason": "cover",
        },
        headers=admin,
    )
    assert_invalid(followup, "staff_id")


async def test_shift_length_time_zone_and_override_span_are_bounded(
    stack: Stack, program: DemoProgram
) -> None:
    admin, member = program.auth(Role.ADMIN), program.staff[Role.CLINICIAN].id
    for field, value in [
        ("shift_hours", 0),
        ("shift_hours", 14 * 24 + 1),
        ("time_zone", "Mars/Olympus_Mons"),
        ("time_zone", "../etc/passwd"),
        ("first_handoff", "1999-12-31T23:00:00Z"),
        ("members", []),
    ]:
        response = await stack.http.post(
            "/v1/oncall/rotations", json=rotation([member], **{field: value}), headers=admin
        )
        assert_invalid(response, field)
    repeated = await stack.http.post(
        "/v1/oncall/rotations", json=rotation([member, member]), headers=admin
    )
    assert_invalid(repeated, "members")
    for hours in (1, 14 * 24):
        fine = await stack.http.post(
            "/v1/oncall/rotations", json=rotation([member], shift_hours=hours), headers=admin
        )
        assert fine.status_code == 201, fine.text
    backwards = await stack.http.post(
        "/v1/oncall/overrides",
        json={
            "staff_id": str(member),
            "starts_at": NOW.isoformat(),
            "ends_at": NOW.isoformat(),
            "reason": "cover",
        },
        headers=admin,
    )
    assert_problem(backwards, 422)
    assert "ends_at must be after starts_at" in backwards.text
