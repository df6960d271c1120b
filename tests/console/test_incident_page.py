"""The console's sign-in, board, new-incident and incident pages, over the real app (in process)
with a worker on the time-skipping server: what a clinician sees and what each form records."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.vocabulary import Role
from tests.helpers.programs import DemoProgram, make_program
from tests.helpers.stack import Stack

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


async def signed_in(stack: Stack, program: DemoProgram, role: Role) -> httpx.AsyncClient:
    """A browser of its own (its own cookie jar) signed in as `role`."""
    browser = httpx.AsyncClient(transport=stack.http._transport, base_url="http://test")
    answer = await browser.post("/signin", data={"token": program.tokens[role]})
    assert answer.status_code == 303
    return browser


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def assert_no_inline_code(html: str) -> None:
    """The page runs nothing the CSP would have to allow inline: scripts only from files, no
    event-handler or style attributes."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"\sstyle\s*=", html)


async def open_from_console(browser: httpx.AsyncClient, program: DemoProgram) -> str:
    form = (await browser.get("/incidents/new")).text
    answer = await browser.post(
        "/incidents/new",
        data={
            "csrf_token": csrf_of(form),
            "idempotency_key": KEY.search(form).group(1),  # type: ignore[union-attr]
            "client_id": str(program.client.id),
            "crisis_type": "overdose",
            "summary": "Client reports taking too many pills",
            "zip": "97232",
        },
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[-1]


async def test_signing_in_sets_a_strict_session_cookie_and_signing_out_ends_it(
    stack: Stack, program: DemoProgram
) -> None:
    browser = httpx.AsyncClient(transport=stack.http._transport, base_url="http://test")
    refused = await browser.post("/signin", data={"token": "cdk_not-a-token"})
    assert refused.status_code == 401
    assert "not valid" in refused.text
    answer = await browser.post("/signin", data={"token": program.tokens[Role.CLINICIAN]})
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=43200" in cookie
    board = await browser.get("/")
    assert board.status_code == 200
    assert board.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in board.headers["content-security-policy"]
    assert_no_inline_code(board.text)
    # Signing out without the session's CSRF token changes nothing.
    assert (await browser.post("/signout", data={"csrf_token": "forged"})).status_code == 403
    assert (await browser.get("/")).status_code == 200
    stolen = dict(browser.cookies)
    signed_out = await browser.post("/signout", data={"csrf_token": csrf_of(board.text)})
    assert signed_out.status_code == 303
    # The old cookie, replayed, opens nothing: the session ended on the server.
    replay = httpx.AsyncClient(
        transport=stack.http._transport, base_url="http://test", cookies=stolen
    )
    again = await replay.get("/")
    assert again.status_code == 303 and again.headers["location"] == "/signin"


async def test_a_sign_in_posted_from_another_site_is_refused(
    stack: Stack, program: DemoProgram
) -> None:
    answer = await stack.http.post(
        "/signin",
        data={"token": program.tokens[Role.CLINICIAN]},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


async def test_a_clinician_opens_an_incident_and_sees_it_on_the_board(
    stack: Stack, program: DemoProgram
) -> None:
    browser = await signed_in(stack, program, Role.CLINICIAN)
    incident_id = await open_from_console(browser, program)
    detail = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.json()["crisis_type"] == "overdose"
    assert detail.json()["location"]["zip"] == "97232"
    board = (await browser.get("/board/rows")).text
    assert f'data-incident-id="{incident_id}"' in board
    assert 'data-stage="open"' in board
    assert program.client.first_name in board


async def test_a_csrf_less_decision_is_refused_and_records_nothing(
    stack: Stack, program: DemoProgram
) -> None:
    browser = await signed_in(stack, program, Role.CLINICIAN)
    incident_id = await open_from_console(browser, program)
    answer = await browser.post(
        f"/incidents/{incident_id}/decisions/note", data={"text": "forged note"}
    )
    assert answer.status_code == 403
    detail = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.json()["decisions"] == []


async def test_the_page_offers_only_what_the_role_may_record_now(
    stack: Stack, program: DemoProgram
) -> None:
    browser = await signed_in(stack, program, Role.CLINICIAN)
    incident_id = await open_from_console(browser, program)
    html = (await browser.get(f"/incidents/{incident_id}")).text
    assert_no_inline_code(html)
    offered = set(re.findall(r'data-decision="([a-z_]+)"', html))
    detail = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.CLINICIAN)
    )
    assert offered == set(detail.json()["allowed_decisions"])
    assert "assessment" in offered and "close" not in offered
    # The overdose protocol's instruments, and no other.
    instruments = re.findall(r'data-instrument="([a-z_]+)"', html)
    assert instruments == ["overdose_signs", "clinical_judgement"]


async def test_an_instrument_is_scored_as_it_is_answered_and_recorded_from_its_form(
    stack: Stack, program: DemoProgram
) -> None:
    browser = await signed_in(stack, program, Role.CLINICIAN)
    incident_id = await open_from_console(browser, program)
    html = (await browser.get(f"/incidents/{incident_id}")).text
    token, key = csrf_of(html), KEY.search(html).group(1)  # type: ignore[union-attr]
    headers = {"X-CSRF-Token": token, "HX-Request": "true"}
    score = await browser.post(
        f"/incidents/{incident_id}/assessment-score",
        data={"instrument": "overdose_signs", "signs": ["slow_breathing", "pinpoint_pupils"]},
        headers=headers,
    )
    assert 'data-live-risk="imminent"' in score.text
    recorded = await browser.post(
        f"/incidents/{incident_id}/decisions/assessment",
        data={
            "idempotency_key": key,
            "instrument": "overdose_signs",
            "signs": ["slow_breathing", "pinpoint_pupils"],
        },
        headers=headers,
    )
    assert recorded.status_code == 200
    assert 'data-event-kind="assessment"' in recorded.text
    assert "Recorded: assessment" in recorded.text
    detail = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.json()["risk_level"] == "imminent"
    assert detail.json()["stage"] == "assessing"


async def test_a_wrong_form_comes_back_with_the_field_named_and_nothing_recorded(
    stack: Stack, program: DemoProgram
) -> None:
    browser = await signed_in(stack, program, Role.CLINICIAN)
    incident_id = await open_from_console(browser, program)
    html = (await browser.get(f"/incidents/{incident_id}")).text
    headers = {"X-CSRF-Token": csrf_of(html), "HX-Request": "true"}
    answer = await browser.post(
        f"/incidents/{incident_id}/decisions/assessment",
        data={"idempotency_key": str(uuid.uuid4()), "instrument": "clinical_judgement"},
        headers=headers,
    )
    assert answer.status_code == 200
    assert 'class="error" role="alert"' in answer.text
    assert "clinical judgement needs a risk level" in answer.text
    detail = await stack.http.get(
        f"/v1/incidents/{incident_id}", headers=program.auth(Role.CLINICIAN)
    )
    assert detail.json()["assessments"] == []


async def test_another_programs_incident_is_the_same_not_found_as_an_unknown_one(
    stack: Stack, program: DemoProgram, sessions: async_sessionmaker[AsyncSession]
) -> None:
    browser = await signed_in(stack, program, Role.CLINICIAN)
    incident_id = await open_from_console(browser, program)
    other = await signed_in(stack, await make_program(sessions, slug="other"), Role.CLINICIAN)
    unknown = await other.get(f"/incidents/{uuid.uuid4()}")
    hidden = await other.get(f"/incidents/{incident_id}")
    assert unknown.status_code == hidden.status_code == 404
    assert hidden.text == unknown.text
    assert program.client.first_name not in hidden.text
    follow_up = await signed_in(stack, program, Role.FOLLOWUP)
    assert (await follow_up.get(f"/incidents/{incident_id}")).status_code == 404
