"""On-call schedules on the time-skipping server (SPEC 10.4): handoff pages reach the incoming
person once, with the open incidents; pages to "the on-call" follow the schedule, and the staff
`on_call` flag still answers where a role has no rotation.

Pages are counted where they arrive: an SMTP sink (every staff member has an address).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

from api.routes.oncall import handoff_watch_id
from domain.models import Staff
from domain.models.programs import StaffCreate
from domain.oncall_watch import HandoffWatch
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType, Role
from infra.db import transaction
from infra.records import create_staff
from infra.sos_outbox import on_call_clinician
from tests.fakes.smtp import SmtpSink
from tests.helpers.incidents import decide, detail, open_incident
from tests.helpers.polling import eventually
from tests.helpers.programs import DemoProgram
from tests.helpers.stack import Stack
from tests.workflows.scenarios import CSSRS_MODERATE
from workflows.oncall import OnCallHandoffWorkflow

SHIFT = timedelta(hours=12)
MINUTE = timedelta(minutes=1)
ASSESSMENT_WINDOW = protocol_for(CrisisType.SUICIDAL_IDEATION).assessment_window


@pytest_asyncio.fixture(loop_scope="session")
async def stack(reachable_stack: Stack) -> Stack:
    return reachable_stack


async def add_staff(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, role: Role, email: str
) -> Staff:
    async with transaction(sessions) as session:
        member, _ = await create_staff(
            session,
            program_id=program.program.id,
            data=StaffCreate(name=f"{role} {email}", role=role, email=email),
        )
    return member


def handoff_pages(sink: SmtpSink, address: str) -> list[str]:
    return [_text(m) for m in sink.messages if m["To"] == address and "handoff" in _text(m)]


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


async def pages_to(sink: SmtpSink, address: str, count: int) -> list[str]:
    async def arrived() -> list[str] | None:
        found = handoff_pages(sink, address)
        return found if len(found) >= count else None

    return await eventually(arrived, f"{count} handoff pages to {address}")


async def post(stack: Stack, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await stack.http.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def owner_at(
    sessions: async_sessionmaker[AsyncSession], program: DemoProgram, at: datetime
) -> Any:
    """Whom an SOS pressed at `at` would be owned (and paged) by."""
    async with sessions() as session:
        owner = await on_call_clinician(session, program.program.id, at)
    return owner.id if owner is not None else None


async def test_three_clinicians_on_12_hour_shifts_hand_off_and_an_override_cuts_in(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    smtp_sink: SmtpSink,
) -> None:
    first = program.staff[Role.CLINICIAN]
    second = await add_staff(sessions, program, Role.CLINICIAN, "second@demo.test")
    third = await add_staff(sessions, program, Role.CLINICIAN, "third@demo.test")
    address = {first.id: "clinician@demo.test", second.id: "second@demo.test"}
    address[third.id] = "third@demo.test"
    incident = await open_incident(stack, program)
    await decide(stack, program, incident["id"], CSSRS_MODERATE)  # no alarm pages meanwhile

    start = (await ts_env.get_current_time()).replace(microsecond=0) + timedelta(hours=1)
    await post(
        stack,
        "/v1/oncall/rotations",
        {
            "name": "Nights and days",
            "role": "clinician",
            "members": [str(first.id), str(second.id), str(third.id)],
            "shift_hours": 12,
            "first_handoff": start.isoformat(),
            "time_zone": "America/Los_Angeles",
        },
        program.auth(Role.ADMIN),
    )
    # Before the first handoff the rotation names nobody: the flag answers (no clinician is
    # flagged in the demo program, so the flagged supervisor would own an SOS).
    assert await owner_at(sessions, program, start - MINUTE) == program.staff[Role.SUPERVISOR].id
    assert all(handoff_pages(smtp_sink, a) == [] for a in address.values())

    # First handoff: the first clinician, once, with the open incident.
    await ts_env.sleep(timedelta(hours=1) + MINUTE)
    page = (await pages_to(smtp_sink, address[first.id], 1))[0]
    assert incident["id"] in page
    assert "on-call clinician" in page
    assert await owner_at(sessions, program, start + MINUTE) == first.id

    # Second handoff, 12 hours on.
    await ts_env.sleep(SHIFT)
    page = (await pages_to(smtp_sink, address[second.id], 1))[0]
    assert incident["id"] in page
    assert await owner_at(sessions, program, start + SHIFT + MINUTE) == second.id

    # The third clinician covers for two hours from an hour from now (a supervisor's override).
    now = await ts_env.get_current_time()
    covers_from, covers_to = now + timedelta(hours=1), now + timedelta(hours=3)
    await post(
        stack,
        "/v1/oncall/overrides",
        {
            "staff_id": str(third.id),
            "starts_at": covers_from.isoformat(),
            "ends_at": covers_to.isoformat(),
            "reason": "second clinician at a training",
        },
        program.auth(Role.SUPERVISOR),
    )
    assert await owner_at(sessions, program, covers_from + MINUTE) == third.id
    await ts_env.sleep(timedelta(hours=1) + MINUTE)
    assert incident["id"] in (await pages_to(smtp_sink, address[third.id], 1))[0]
    # The override ends: the second clinician comes back in, and is told so.
    await ts_env.sleep(timedelta(hours=2))
    await pages_to(smtp_sink, address[second.id], 2)
    assert await owner_at(sessions, program, covers_to + MINUTE) == second.id

    # Third shift: the third clinician.
    await ts_env.sleep(start + 2 * SHIFT - covers_to)
    await pages_to(smtp_sink, address[third.id], 2)
    assert await owner_at(sessions, program, start + 2 * SHIFT + MINUTE) == third.id

    # Each handoff paged its incoming person exactly once, nobody else. Nobody was paged when
    # the rotation was created: its first handoff was an hour away, so it put nobody on call yet.
    await ts_env.sleep(MINUTE)
    counts = {who: len(handoff_pages(smtp_sink, a)) for who, a in address.items()}
    assert counts == {first.id: 1, second.id: 2, third.id: 2}
    others = [m["To"] for m in smtp_sink.messages if "handoff" in _text(m)]
    assert set(others) <= set(address.values())


async def test_a_rotation_created_mid_shift_tells_the_member_on_call_once_at_creation(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    smtp_sink: SmtpSink,
) -> None:
    first = program.staff[Role.CLINICIAN]
    second = await add_staff(sessions, program, Role.CLINICIAN, "second@demo.test")
    address = {first.id: "clinician@demo.test", second.id: "second@demo.test"}
    incident = await open_incident(stack, program)
    await decide(stack, program, incident["id"], CSSRS_MODERATE)  # no alarm pages meanwhile
    now = (await ts_env.get_current_time()).replace(microsecond=0)

    # A rotation of the second clinician alone whose first shift began an hour ago: they are
    # on call from its creation, and told so then, with the open incident.
    await post(
        stack,
        "/v1/oncall/rotations",
        _rotation("Second alone", [second], now - timedelta(hours=1)),
        program.auth(Role.ADMIN),
    )
    page = (await pages_to(smtp_sink, address[second.id], 1))[0]
    assert "you are now the on-call clinician" in page and incident["id"] in page

    # It is replaced by a rotation whose first clinician's shift began two hours ago: the
    # first clinician is on call from its creation, and told so once.
    start = now - timedelta(hours=2)
    rotation = await post(
        stack,
        "/v1/oncall/rotations",
        _rotation("Both", [first, second], start),
        program.auth(Role.ADMIN),
    )
    page = (await pages_to(smtp_sink, address[first.id], 1))[0]
    assert "you are now the on-call clinician" in page and incident["id"] in page
    assert await owner_at(sessions, program, now + MINUTE) == first.id

    # The shift ends 12 hours after it began: the second clinician is told, once.
    await ts_env.sleep(start + SHIFT - now + MINUTE)
    await pages_to(smtp_sink, address[second.id], 2)
    assert await owner_at(sessions, program, start + SHIFT + MINUTE) == second.id

    # A watch of the rotation continued as new (it had checked, the second clinician on call)
    # does not tell them again. Started under an id of its own, as the time-skipping server
    # handles `continue_as_new` poorly; it sleeps to the next handoff like the first watch.
    await stack.client.start_workflow(
        OnCallHandoffWorkflow.run,
        HandoffWatch(
            rotation_id=rotation["id"],
            program_id=program.program.id,
            role=Role.CLINICIAN,
            at=await ts_env.get_current_time(),
            on_call=second.id,
            checked=True,
        ),
        id=f"{handoff_watch_id(rotation['id'])}-continued",
        task_queue=stack.task_queue,
    )
    await ts_env.sleep(MINUTE)
    # The first clinician: once, at the second rotation's creation. The second: at the first
    # rotation's creation, then at the handoff.
    counts = {who: len(handoff_pages(smtp_sink, a)) for who, a in address.items()}
    assert counts == {first.id: 1, second.id: 2}


def _rotation(name: str, members: list[Staff], first_handoff: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "role": "clinician",
        "members": [str(m.id) for m in members],
        "shift_hours": 12,
        "first_handoff": first_handoff.isoformat(),
        "time_zone": "UTC",
    }


async def test_pages_to_the_on_call_supervisor_follow_the_schedule_and_the_flag_without_one(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    sessions: async_sessionmaker[AsyncSession],
    smtp_sink: SmtpSink,
) -> None:
    flagged = str(program.staff[Role.SUPERVISOR].id)  # the demo supervisor has `on_call` set
    day = await add_staff(sessions, program, Role.SUPERVISOR, "day@demo.test")
    night = await add_staff(sessions, program, Role.SUPERVISOR, "night@demo.test")

    # No supervisor rotation: the overdue assessment pages the flagged supervisor.
    before = await open_incident(stack, program)
    await ts_env.sleep(ASSESSMENT_WINDOW + MINUTE)
    pages = await _pages(stack, program, before["id"], 1)
    assert pages[0]["recipients"] == [flagged]
    now = (await stack.http.get("/v1/oncall/now", headers=program.auth(Role.FOLLOWUP))).json()
    supervisors = [e for e in now["data"] if e["role"] == "supervisor"]
    assert [(e["staff_id"], e["source"]) for e in supervisors] == [(flagged, "flag")]

    start = (await ts_env.get_current_time()).replace(microsecond=0) + MINUTE
    await post(
        stack,
        "/v1/oncall/rotations",
        {
            "name": "Supervisors",
            "role": "supervisor",
            "members": [str(day.id), str(night.id)],
            "shift_hours": 12,
            "first_handoff": start.isoformat(),
            "time_zone": "UTC",
        },
        program.auth(Role.ADMIN),
    )
    await ts_env.sleep(2 * MINUTE)
    assert before["id"] in (await pages_to(smtp_sink, "day@demo.test", 1))[0]

    # On the schedule, the next overdue assessment pages the supervisor on shift, not the flag.
    after = await open_incident(stack, program)
    await ts_env.sleep(ASSESSMENT_WINDOW + MINUTE)
    assert (await _pages(stack, program, after["id"], 1))[0]["recipients"] == [str(day.id)]

    # 12 hours on, the night supervisor is told and takes the repeated alarm pages.
    await ts_env.sleep(SHIFT)
    page = (await pages_to(smtp_sink, "night@demo.test", 1))[0]
    assert before["id"] in page and after["id"] in page


async def _pages(
    stack: Stack, program: DemoProgram, incident_id: str, count: int
) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        pages: list[dict[str, Any]] = (await detail(stack, program, incident_id))["pages"]
        return pages if len(pages) >= count else None

    return await eventually(enough, f"{count} pages")
