"""Contract items no other test pins (issue 13): staff tokens kept hashed, the incident list's
filters, every dispatch status, COWS through the API, SOS's nearest crisis line and its join
window, the incident detail's tasks, and the CLI's `program add`, `staff add` and `seed`.

Numbers (bands, windows, schedules) are written here as SPEC.md states them, never read from
the protocol under test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.testing import WorkflowEnvironment

import api.routes.sos as sos_route
from api.app import create_app
from api.auth import token_hash
from domain.models import Staff
from domain.vocabulary import Role
from infra.codec import Keyring
from infra.settings import Settings

if TYPE_CHECKING:
    from tests.helpers.programs import DemoProgram
    from tests.helpers.stack import Stack

T = TypeVar("T")
CLI = str(Path(sys.executable).parent / "crisisdesk")
SAFETY_PLAN = {
    "warning_signs": ["isolating"],
    "internal_coping": ["paced breathing"],
    "social_distractions": ["coffee shop"],
    "people_to_ask": ["sister Lia"],
    "professionals": ["988"],
    "means_safety": ["medications locked away"],
}


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll what the worker projects asynchronously until `check` answers something."""
    for _ in range(500):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def open_incident(
    stack: Stack, program: DemoProgram, crisis_type: str, role: Role = Role.CLINICIAN
) -> dict[str, Any]:
    response = await stack.http.post(
        "/v1/incidents",
        json={
            "client_id": str(program.client.id),
            "crisis_type": crisis_type,
            "summary": "Client in crisis during group",
            "location": {"zip": "97201"},
        },
        headers=program.auth(role),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def decide(
    stack: Stack, program: DemoProgram, incident_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await stack.http.post(
        f"/v1/incidents/{incident_id}/decisions", json=body, headers=program.auth(Role.CLINICIAN)
    )


async def decided(
    stack: Stack, program: DemoProgram, incident_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await decide(stack, program, incident_id, body)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def detail(stack: Stack, program: DemoProgram, incident_id: str) -> dict[str, Any]:
    response = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.CLINICIAN)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- tokens -------------------------------------------------------------------------------------


async def test_a_staff_token_is_stored_only_as_a_hash_that_verifies(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await stack.http.post(
        "/v1/staff", json={"name": "Dr. A", "role": "clinician"}, headers=program.auth(Role.ADMIN)
    )
    assert created.status_code == 201, created.text
    token, staff_id = created.json()["token"], uuid.UUID(created.json()["id"])
    as_new = {"Authorization": f"Bearer {token}"}
    assert (await stack.http.get("/v1/clients", headers=as_new)).status_code == 200

    async with sessions() as session:
        # every column of every staff row, as the database holds them
        connection = await session.connection()
        rows = (await connection.execute(text("SELECT * FROM staff"))).mappings().all()
        stored = await session.get(Staff, staff_id)
    assert stored is not None
    assert not any(token in str(value) for member in rows for value in member.values())
    assert stored.token_hash == token_hash(token)

    # The stored hash is what lets the token in: change it, and the same token is refused.
    async with sessions() as session:
        member = await session.get(Staff, staff_id)
        assert member is not None
        member.token_hash = token_hash(token + "x")
        await session.commit()
    refused = await stack.http.get("/v1/clients", headers=as_new)
    assert refused.status_code == 401
    # Nor is the listing of staff a way to read a token back.
    listed = await stack.http.get("/v1/staff", headers=program.auth(Role.ADMIN))
    assert token not in listed.text
    assert "token" not in {key for s in listed.json()["data"] for key in s}


# --- the incident list's filters ----------------------------------------------------------------


async def test_each_list_filter_narrows_the_list_to_what_it_names(
    stack: Stack, program: DemoProgram
) -> None:
    assessed = await open_incident(stack, program, "panic")
    await decided(
        stack,
        program,
        assessed["id"],
        {
            "kind": "assessment",
            "instrument": "clinical_judgement",
            "risk_override": "moderate",
            "justification": "Calmer, oriented",
        },
    )
    untouched = await open_incident(stack, program, "suicidal_ideation", role=Role.SUPERVISOR)
    cancelled = await open_incident(stack, program, "panic")
    await decided(stack, program, cancelled["id"], {"kind": "cancel", "reason": "wrong client"})
    assessed_stage = (await detail(stack, program, assessed["id"]))["stage"]
    assert assessed_stage not in ("open", "cancelled")

    async def listed(params: dict[str, str], role: Role = Role.CLINICIAN) -> set[str]:
        response = await stack.http.get("/v1/incidents", params=params, headers=program.auth(role))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == len(body["data"])  # one snapshot, even while projecting
        return {row["id"] for row in body["data"]}

    async def projected() -> bool:
        return (
            await listed({"stage": "cancelled"}) == {cancelled["id"]}
            and await listed({"risk_level": "moderate"}) == {assessed["id"]}
            and await listed({"stage": assessed_stage}) == {assessed["id"]}
        )

    await eventually(projected, "the three incidents projected")
    everyone = {assessed["id"], untouched["id"], cancelled["id"]}
    assert await listed({}) == everyone
    assert await listed({"stage": "open"}) == {untouched["id"]}
    assert await listed({"crisis_type": "panic"}) == {assessed["id"], cancelled["id"]}
    assert await listed({"crisis_type": "suicidal_ideation"}) == {untouched["id"]}
    assert await listed({"crisis_type": "overdose"}) == set()
    assert await listed({"risk_level": "high"}) == set()
    assert await listed({"owner": "me"}) == {assessed["id"], cancelled["id"]}
    assert await listed({"owner": "me"}, role=Role.SUPERVISOR) == {untouched["id"]}
    supervisor = str(program.staff[Role.SUPERVISOR].id)
    assert await listed({"owner": supervisor}) == {untouched["id"]}
    assert await listed({"crisis_type": "panic", "stage": "cancelled"}) == {cancelled["id"]}
    paged = await stack.http.get(
        "/v1/incidents", params={"limit": 1, "offset": 1}, headers=program.auth(Role.CLINICIAN)
    )
    assert len(paged.json()["data"]) == 1 and paged.json()["count"] == 3
    past = await stack.http.get(
        "/v1/incidents", params={"offset": 10}, headers=program.auth(Role.CLINICIAN)
    )
    assert past.json() == {"data": [], "count": 3}  # a page past the end still gives the total

    for name in ("stage", "crisis_type", "risk_level", "owner"):
        response = await stack.http.get(
            "/v1/incidents", params={name: "bogus"}, headers=program.auth(Role.CLINICIAN)
        )
        assert response.status_code == 422, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert name in response.text


# --- dispatch updates ---------------------------------------------------------------------------

IMMINENT = {
    "kind": "assessment",
    "instrument": "cssrs_screener",
    "answers": {
        "wish_dead": True,
        "suicidal_thoughts": True,
        "method": True,
        "intent": True,
        "plan": True,
        "behavior": False,
        "behavior_past_3_months": False,
    },
    "risk_override": "imminent",
    "justification": "Means at hand, refuses to put them away",
}


async def dispatched(stack: Stack, program: DemoProgram) -> tuple[str, str]:
    """An imminent-risk incident (dispatch required) with 911 called."""
    incident = await open_incident(stack, program, "suicidal_ideation")
    state = await decided(stack, program, incident["id"], IMMINENT)
    assert "dispatch" in state["required_steps"]
    state = await decided(
        stack,
        program,
        incident["id"],
        {"kind": "dispatch", "service": "911", "reason": "Means at hand", "reference": "P-1"},
    )
    assert "dispatch" not in state["required_steps"]
    return incident["id"], state["dispatches"][0]["dispatch_id"]


async def test_a_dispatch_arrives_then_transports_to_its_destination(
    stack: Stack, program: DemoProgram
) -> None:
    incident_id, dispatch_id = await dispatched(stack, program)
    update = {"kind": "dispatch_update", "dispatch_id": dispatch_id}
    arrived = await decided(stack, program, incident_id, {**update, "status": "arrived"})
    assert arrived["dispatches"][0]["status"] == "arrived"
    assert "dispatch" not in arrived["required_steps"]

    transported = await decided(
        stack,
        program,
        incident_id,
        {**update, "status": "transported", "destination": "OHSU Emergency Department"},
    )
    dispatch = transported["dispatches"][0]
    assert dispatch["status"] == "transported"
    assert dispatch["destination"] == "OHSU Emergency Department"
    assert "dispatch" not in transported["required_steps"]
    assert (await detail(stack, program, incident_id))["dispatches"][0] == dispatch

    # A transported dispatch has ended: it cannot be moved again.
    again = await decide(stack, program, incident_id, {**update, "status": "arrived"})
    assert again.status_code == 409, again.text


async def test_a_cancelled_dispatch_no_longer_answers_dispatch_required(
    stack: Stack, program: DemoProgram
) -> None:
    incident_id, dispatch_id = await dispatched(stack, program)
    cancelled = await decided(
        stack,
        program,
        incident_id,
        {"kind": "dispatch_update", "dispatch_id": dispatch_id, "status": "cancelled"},
    )
    assert cancelled["dispatches"][0]["status"] == "cancelled"
    assert "dispatch" in cancelled["required_steps"]
    assert "dispatch_overdue" in {t["name"] for t in cancelled["pending_timers"]}

    # A new dispatch answers it again.
    state = await decided(
        stack,
        program,
        incident_id,
        {"kind": "dispatch", "service": "911", "reason": "Unit turned back", "reference": "P-2"},
    )
    assert "dispatch" not in state["required_steps"]


# --- COWS ---------------------------------------------------------------------------------------

COWS_ITEMS = (
    "resting_pulse",
    "sweating",
    "restlessness",
    "pupil_size",
    "bone_joint_aches",
    "runny_nose_tearing",
    "gi_upset",
    "tremor",
    "yawning",
    "anxiety_irritability",
    "gooseflesh",
)


def cows(**scores: int) -> dict[str, Any]:
    return {
        "kind": "assessment",
        "instrument": "cows",
        "scores": {item: scores.get(item, 0) for item in COWS_ITEMS},
    }


# SPEC section 2: < 5 none and 5-12 mild -> low, 13-24 moderate, 25-36 and > 36 -> high.
COWS_BANDS = [
    (0, cows(), "low"),
    (4, cows(resting_pulse=2, sweating=2), "low"),
    (5, cows(resting_pulse=2, sweating=2, tremor=1), "low"),
    (12, cows(resting_pulse=4, sweating=4, restlessness=3, yawning=1), "low"),
    (13, cows(resting_pulse=4, sweating=4, restlessness=5), "moderate"),
    (
        24,
        cows(resting_pulse=4, sweating=4, restlessness=5, pupil_size=5, gi_upset=5, yawning=1),
        "moderate",
    ),
    (
        25,
        cows(resting_pulse=4, sweating=4, restlessness=5, pupil_size=5, gi_upset=5, yawning=2),
        "high",
    ),
    (
        48,
        cows(
            resting_pulse=4,
            sweating=4,
            restlessness=5,
            pupil_size=5,
            bone_joint_aches=4,
            runny_nose_tearing=4,
            gi_upset=5,
            tremor=4,
            yawning=4,
            anxiety_irritability=4,
            gooseflesh=5,
        ),
        "high",
    ),
]


async def test_a_cows_total_sets_the_risk_of_its_band(stack: Stack, program: DemoProgram) -> None:
    for total, body, risk in COWS_BANDS:
        assert sum(body["scores"].values()) == total
        incident = await open_incident(stack, program, "withdrawal")
        state = await decided(stack, program, incident["id"], body)
        assert state["risk_level"] == risk, (total, state["assessments"])
        assert state["assessments"][-1]["instrument"] == "cows"


@pytest.mark.parametrize(
    ("item", "value"),
    [("resting_pulse", 3), ("restlessness", 2), ("gooseflesh", 1), ("sweating", 5)],
)
async def test_a_cows_value_the_scale_does_not_allow_is_422_naming_the_item(
    stack: Stack, program: DemoProgram, item: str, value: int
) -> None:
    incident = await open_incident(stack, program, "withdrawal")
    body = cows(**{item: value})
    refused = await decide(stack, program, incident["id"], body)
    assert refused.status_code == 422, refused.text
    assert item in refused.json()["detail"] or item in str(refused.json().get("errors"))
    after = await detail(stack, program, incident["id"])
    assert after["risk_level"] is None
    assert after["assessments"] == []


# --- SOS ----------------------------------------------------------------------------------------


async def _device_token(stack: Stack, program: DemoProgram) -> dict[str, str]:
    response = await stack.http.post(
        f"/v1/clients/{program.client.id}/devices",
        json={"label": "phone"},
        headers=program.auth(Role.ADMIN),
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def _resource(stack: Stack, program: DemoProgram, **fields: Any) -> None:
    response = await stack.http.post("/v1/resources", json=fields, headers=program.auth(Role.ADMIN))
    assert response.status_code == 201, response.text


async def test_sos_answers_with_the_nearest_crisis_line_of_the_directory(
    stack: Stack, program: DemoProgram
) -> None:
    # The client's zip is 97201 (Portland); one line near it, one in Seattle.
    await _resource(
        stack,
        program,
        name="Seattle Crisis Line",
        kind="crisis_line",
        phone="+12064613222",
        lat=47.61,
        lon=-122.33,
    )
    await _resource(
        stack,
        program,
        name="Multnomah Crisis Line",
        kind="crisis_line",
        phone="+15039884888",
        lat=45.51,
        lon=-122.69,
    )
    device = await _device_token(stack, program)
    pressed = await stack.http.post("/v1/sos", headers=device)
    assert pressed.status_code == 201, pressed.text
    numbers = pressed.json()["crisis_numbers"]
    phones = [n["phone"] for n in numbers]
    assert "911" in phones and "988" in phones
    assert "+15039884888" in phones
    assert "+12064613222" not in phones
    nearest = next(n for n in numbers if n["phone"] == "+15039884888")
    assert nearest["name"] == "Multnomah Crisis Line"
    assert nearest["distance_km"] < 10


async def test_a_press_after_the_join_window_opens_a_new_incident(
    stack: Stack,
    program: DemoProgram,
    ts_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SPEC 2b: presses "within a short window" join one incident; the protocol's window is
    15 minutes (api/routes/sos.py reads `sos_join_window`). The API reads the wall clock and the
    workflow Temporal's: both move 16 minutes."""
    device = await _device_token(stack, program)
    first = await stack.http.post("/v1/sos", headers=device)
    assert first.status_code == 201, first.text
    assert first.json()["joined"] is False
    incident_id = first.json()["incident_id"]

    async def projected() -> bool:
        response = await stack.http.get("/v1/incidents", headers=program.auth(Role.CLINICIAN))
        return incident_id in {row["id"] for row in response.json()["data"]}

    await eventually(projected, "the SOS incident projected")
    second = await stack.http.post("/v1/sos", headers=device)
    assert second.status_code == 201, second.text
    assert second.json() == {**first.json(), "joined": True}

    later = timedelta(minutes=16)
    await ts_env.sleep(later)

    class _Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> _Later:
            return super().now(tz) + later

    monkeypatch.setattr(sos_route, "datetime", _Later)
    third = await stack.http.post("/v1/sos", headers=device)
    assert third.status_code == 201, third.text
    assert third.json()["joined"] is False
    assert third.json()["incident_id"] != incident_id
    first_incident = await detail(stack, program, incident_id)
    new_incident = await detail(stack, program, third.json()["incident_id"])
    assert first_incident["sos_presses"] == 2
    assert new_incident["origin"] == "sos"
    assert new_incident["stage"] not in ("closed", "cancelled")


# --- the incident detail's tasks ----------------------------------------------------------------


async def test_the_incident_detail_lists_its_follow_up_tasks_after_a_disposition(
    stack: Stack, program: DemoProgram
) -> None:
    incident = await open_incident(stack, program, "panic")
    for body in (
        {
            "kind": "assessment",
            "instrument": "clinical_judgement",
            "risk_override": "moderate",
            "justification": "Calmer, oriented",
        },
        {"kind": "deescalation", "techniques": ["grounding"], "outcome": "resolved"},
        {
            "kind": "disposition",
            "outcome": "remained_home_with_safety_plan",
            "safety_plan": SAFETY_PLAN,
        },
    ):
        await decided(stack, program, incident["id"], body)

    async def four_tasks() -> list[dict[str, Any]] | None:
        tasks: list[dict[str, Any]] = (await detail(stack, program, incident["id"]))["tasks"]
        return tasks if len(tasks) == 4 else None

    tasks = await eventually(four_tasks, "four follow-up tasks on the incident detail")
    assert [t["sequence"] for t in tasks] == [1, 2, 3, 4]
    assert {t["status"] for t in tasks} == {"requested"}
    # SPEC section 5: due within 24 h, 72 h, 7 days and 30 days.
    due = [datetime.fromisoformat(t["due_at"]) for t in tasks]
    assert [d - due[0] for d in due] == [
        timedelta(0),
        timedelta(hours=48),
        timedelta(days=6),
        timedelta(days=29),
    ]
    queue = await stack.http.get("/v1/tasks", headers=program.auth(Role.FOLLOWUP))
    assert {t["id"] for t in tasks} == {
        t["id"] for t in queue.json()["data"] if t["incident_id"] == incident["id"]
    }


# --- the CLI ------------------------------------------------------------------------------------


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRISISDESK_")},
        "CRISISDESK_DATA_DIR": str(data_dir),
        "CRISISDESK_DATABASE_URL": f"sqlite:///{data_dir / 'cli.db'}",
    }
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _api(data_dir: Path) -> httpx.AsyncClient:
    """The API on the CLI's database (no Temporal: only the directory routes are used)."""
    settings = Settings(
        database_url=f"sqlite:///{data_dir / 'cli.db'}",
        data_dir=data_dir,
        encryption_keys=Keyring.generate("cli1").render(),
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_cli_adds_a_program_and_staff_whose_printed_token_works(
    tmp_path: Path,
) -> None:
    assert _cli(tmp_path, "migrate").returncode == 0
    program = _cli(tmp_path, "program", "add", "--slug", "eastside", "--name", "Eastside IOP")
    assert program.returncode == 0, program.stderr
    program_id = program.stdout.strip()
    uuid.UUID(program_id)
    admin = _cli(
        tmp_path, "staff", "add", "--program", "eastside", "--role", "admin", "--name", "Jo"
    )
    clinician = _cli(
        tmp_path, "staff", "add", "--program", "eastside", "--role", "clinician", "--name", "Dr. A"
    )
    assert admin.returncode == 0 and clinician.returncode == 0, (admin.stderr, clinician.stderr)
    admin_token, clinician_token = admin.stdout.strip(), clinician.stdout.strip()
    assert admin_token != clinician_token

    unknown = _cli(
        tmp_path, "staff", "add", "--program", "nowhere", "--role", "admin", "--name", "X"
    )
    assert unknown.returncode != 0
    assert "nowhere" in unknown.stderr

    async with _api(tmp_path) as http:
        me = await http.get("/v1/programs/me", headers=_bearer(admin_token))
        assert me.status_code == 200, me.text
        assert me.json()["id"] == program_id
        assert me.json()["slug"] == "eastside"
        staff = await http.get("/v1/staff", headers=_bearer(admin_token))
        assert {(s["name"], s["role"]) for s in staff.json()["data"]} == {
            ("Jo", "admin"),
            ("Dr. A", "clinician"),
        }
        # The clinician's token carries the clinician's role, not the admin's.
        as_clinician = await http.get("/v1/staff", headers=_bearer(clinician_token))
        assert as_clinician.status_code == 403
        assert (await http.get("/v1/clients", headers=_bearer(clinician_token))).status_code == 200
    database = (tmp_path / "cli.db").read_bytes()
    assert admin_token.encode() not in database
    assert clinician_token.encode() not in database


async def test_the_cli_adds_a_part2_program_and_a_program_is_not_part2_by_default(
    tmp_path: Path,
) -> None:
    """SPEC 10.2: `crisisdesk program add --part2`; false by default."""
    assert _cli(tmp_path, "migrate").returncode == 0
    for slug, flags in (("recovery", ["--part2"]), ("eastside", [])):
        made = _cli(tmp_path, "program", "add", "--slug", slug, "--name", f"{slug} IOP", *flags)
        assert made.returncode == 0, made.stderr
        admin = _cli(tmp_path, "staff", "add", "--program", slug, "--role", "admin", "--name", "Jo")
        assert admin.returncode == 0, admin.stderr
        async with _api(tmp_path) as http:
            me = await http.get("/v1/programs/me", headers=_bearer(admin.stdout.strip()))
        assert me.status_code == 200, me.text
        assert me.json()["part2_program"] is bool(flags), slug


async def test_the_cli_seed_makes_the_demo_program_and_prints_a_working_token_per_role(
    tmp_path: Path,
) -> None:
    assert _cli(tmp_path, "migrate").returncode == 0
    seeded = _cli(tmp_path, "seed")
    assert seeded.returncode == 0, seeded.stderr
    tokens = _printed_tokens(seeded.stdout)
    assert set(tokens) == {"clinician", "supervisor", "followup", "admin"}
    sos_page = _printed_sos_page(seeded.stdout)

    async with _api(tmp_path) as http:
        me = await http.get("/v1/programs/me", headers=_bearer(tokens["admin"]))
        assert me.json()["slug"] == "demo"
        staff = await http.get("/v1/staff", headers=_bearer(tokens["admin"]))
        staff_count = staff.json()["count"]
        active_roles = sorted(s["role"] for s in staff.json()["data"] if s["active"])
        assert active_roles == sorted(["clinician", "supervisor", "followup", "admin"])
        clients = await http.get("/v1/clients", headers=_bearer(tokens["clinician"]))
        assert clients.json()["count"] >= 1
        ana = clients.json()["data"][0]["id"]
        contacts = await http.get(
            f"/v1/clients/{ana}/contacts", headers=_bearer(tokens["clinician"])
        )
        assert contacts.json()["count"] >= 1
        resources = await http.get("/v1/resources", headers=_bearer(tokens["clinician"]))
        assert resources.json()["count"] >= 1
        tasks = await http.get("/v1/tasks", headers=_bearer(tokens["followup"]))
        assert tasks.status_code == 200
        # The demo client's SOS page opens, with the button.
        page = await http.get(sos_page)
        assert page.status_code == 200 and "Get help now" in page.text

    # A second seed keeps the program and re-issues the tokens: the old ones stop working.
    again = _cli(tmp_path, "seed")
    assert again.returncode == 0, again.stderr
    fresh = _printed_tokens(again.stdout)
    async with _api(tmp_path) as http:
        old = await http.get("/v1/clients", headers=_bearer(tokens["clinician"]))
        assert old.status_code == 401
        new = await http.get("/v1/clients", headers=_bearer(fresh["clinician"]))
        assert new.status_code == 200
        staff = await http.get("/v1/staff", headers=_bearer(fresh["admin"]))
        assert staff.json()["count"] == staff_count  # nobody added twice
        # The SOS page's token is re-issued too: the old link no longer presses anything.
        assert (await http.get(sos_page)).status_code == 404
        assert (await http.get(_printed_sos_page(again.stdout))).status_code == 200


def _printed_tokens(stdout: str) -> dict[str, str]:
    """The staff tokens `crisisdesk seed` printed, one indented `role token` line each."""
    return dict(line.split() for line in stdout.splitlines() if line.startswith("  "))


def _printed_sos_page(stdout: str) -> str:
    """The path of the demo client's SOS page that `crisisdesk seed` printed."""
    line = next(line for line in stdout.splitlines() if "SOS page" in line)
    return "/sos/" + line.rsplit("/sos/", 1)[1].strip()
