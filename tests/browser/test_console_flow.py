"""A crisis worked on the console in real Chromium against the live stack (SPEC 10.3): a clinician
opens an overdose incident, records the overdose signs, a 911 dispatch and its updates, tells the
client's doctor under 42 CFR 2.51, records a disposition with a safety plan, and sees each in the
timeline; a second browser on the board sees the incident appear and each stage change within
2 seconds, without a reload. Signing out ends the session, and a form without the session's CSRF
token changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Page, expect

from domain.vocabulary import Role
from tests.browser.conftest import PageFor
from tests.helpers.live_stack import CLIENT, MEDICAL_CONTACT, LiveStack

pytestmark = pytest.mark.e2e

AxeCheck = Callable[[Page], Awaitable[None]]
LIVE_MS = 2_000  # SPEC 10.3: any change on the screen within 2 seconds
SAFETY_PLAN = {
    "warning_signs": "Isolating\nNot answering the phone",
    "internal_coping": "Walk the dog",
    "social_distractions": "Coffee shop on Burnside",
    "people_to_ask": "Sister Lia",
    "professionals": "988\nRiverside Clinic",
    "means_safety": "Pharmacy holds the prescription; naloxone at home",
}


async def decide(page: Page, kind: str, instrument: str | None = None) -> None:
    """Submit the open form of `kind` and wait for the page to show it recorded."""
    await page.locator(_form(kind, instrument)).locator("button[type='submit']").click()
    recorded = f"Recorded: {kind.replace('_', ' ')}."
    await expect(page.locator("[data-recorded]")).to_have_text(recorded, timeout=10_000)


def _form(kind: str, instrument: str | None) -> str:
    selector = f'form[data-decision="{kind}"]'
    return selector + f'[data-instrument="{instrument}"]' if instrument else selector


async def open_form(page: Page, kind: str, instrument: str | None = None) -> None:
    details = page.locator("details.decision").filter(has=page.locator(_form(kind, instrument)))
    await details.locator("summary").click()


async def board_row_shows(board: Page, incident_id: str, stage: str) -> None:
    row = board.locator(f'[data-incident-id="{incident_id}"]')
    await expect(row).to_have_attribute("data-stage", stage, timeout=LIVE_MS)


async def test_a_clinician_works_an_overdose_while_the_board_follows_live(
    live_stack: LiveStack, page_for: PageFor, axe_check: AxeCheck
) -> None:
    board = await page_for(Role.CLINICIAN)
    await board.goto("/")
    await expect(board.locator("h1")).to_have_text("Open incidents")
    board_url = board.url

    page = await page_for(Role.CLINICIAN)
    await page.goto("/incidents/new")
    await axe_check(page)
    await page.select_option("#client_id", live_stack.client_id)
    await page.select_option("#crisis_type", "overdose")
    await page.fill("#summary", "Roommate found the client drowsy after taking pills")
    await page.fill("#zip", CLIENT["zip"])
    await page.click("form[data-form='new-incident'] button[type='submit']")
    await page.wait_for_url("**/incidents/*")
    incident_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    await expect(page.locator("h1")).to_contain_text(CLIENT["first_name"])
    # The board, never reloaded, shows the new incident.
    await board_row_shows(board, incident_id, "open")
    await axe_check(page)

    # Overdose signs, scored as they are ticked.
    await open_form(page, "assessment", "overdose_signs")
    signs = page.locator('form[data-instrument="overdose_signs"]')
    await signs.get_by_label("Slow or shallow breathing").check()
    await signs.get_by_label("Pinpoint pupils").check()
    await expect(signs.locator("[data-live-risk]")).to_have_attribute(
        "data-live-risk", "imminent", timeout=5_000
    )
    await decide(page, "assessment", "overdose_signs")
    await expect(page.locator("[data-timeline] [data-event-kind='assessment']")).to_have_count(1)
    await board_row_shows(board, incident_id, "assessing")
    await expect(board.locator(f'[data-incident-id="{incident_id}"]')).to_have_attribute(
        "data-risk", "imminent", timeout=LIVE_MS
    )

    # 911, then the team's progress.
    await open_form(page, "dispatch")
    dispatch = page.locator('form[data-decision="dispatch"]')
    await dispatch.locator("select[name='service']").select_option("911")
    await dispatch.locator("[name='reason']").fill("Slow breathing and pinpoint pupils")
    await decide(page, "dispatch")
    await expect(page.locator("[data-timeline] [data-event-kind='dispatch']")).to_have_count(1)
    await board_row_shows(board, incident_id, "responding")
    for status in ("en_route", "arrived"):
        await open_form(page, "dispatch_update")
        update = page.locator('form[data-decision="dispatch_update"]')
        await update.locator("select[name='dispatch_id']").select_option(index=1)
        await update.locator("select[name='status']").select_option(status)
        await decide(page, "dispatch_update")
        await expect(page.locator("[data-dispatch-status]")).to_have_attribute(
            "data-dispatch-status", status
        )
    await expect(page.locator("[data-timeline] [data-event-kind='dispatch_update']")).to_have_count(
        2
    )

    # The client's doctor, told under 42 CFR 2.51 (a medical emergency).
    await open_form(page, "notify_contacts")
    notify = page.locator('form[data-decision="notify_contacts"]')
    await notify.get_by_label(MEDICAL_CONTACT["name"], exact=False).check()
    await notify.locator("select[name='basis']").select_option("medical_emergency")
    await notify.locator("[name='emergency_nature']").fill("Suspected opioid overdose")
    await decide(page, "notify_contacts")
    await expect(page.locator("[data-timeline] [data-event-kind='notify_contacts']")).to_have_count(
        1
    )
    # The text to the doctor is sent by the worker: the page shows it without a reload.
    await expect(page.locator("[data-contact-status] [data-delivery-status]").first).to_be_visible(
        timeout=10_000
    )

    # The disposition with a safety plan.
    await open_form(page, "disposition")
    disposition = page.locator('form[data-decision="disposition"]')
    await disposition.locator("select[name='outcome']").select_option("transported_er")
    for section, text in SAFETY_PLAN.items():
        await disposition.locator(f"[name='safety_plan.{section}']").fill(text)
    await decide(page, "disposition")
    timeline = page.locator("[data-timeline]")
    await expect(timeline.locator("[data-event-kind='disposition']")).to_have_count(1)
    for kind in ("opened", "assessment", "dispatch", "notify_contacts"):
        await expect(timeline.locator(f"[data-event-kind='{kind}']").first).to_be_visible()
    stage = await page.locator("#incident-body").get_attribute("data-stage")
    assert stage in ("stabilized", "follow_up")
    await board_row_shows(board, incident_id, stage)
    assert board.url == board_url  # followed live, never reloaded
    await axe_check(page)
    await axe_check(board)

    # What the screens recorded is what the API holds.
    async with live_stack.http(Role.CLINICIAN) as http:
        detail = (await http.get(f"/v1/incidents/{incident_id}")).json()
    kinds = [d["kind"] for d in detail["decisions"]]
    assert kinds == [
        "assessment",
        "dispatch",
        "dispatch_update",
        "dispatch_update",
        "notify_contacts",
        "disposition",
    ]
    assert detail["risk_level"] == "imminent"


async def test_signing_out_ends_the_session_and_a_csrf_less_post_is_refused(
    live_stack: LiveStack, page_for: PageFor
) -> None:
    page = await page_for(Role.CLINICIAN)
    async with live_stack.http(Role.CLINICIAN) as http:
        opened = await http.post(
            "/v1/incidents",
            json={
                "client_id": live_stack.client_id,
                "crisis_type": "suicidal_ideation",
                "summary": "Client says they cannot keep going",
            },
        )
        incident_id = opened.json()["id"]
        forged = await page.request.post(
            f"/incidents/{incident_id}/decisions/note", form={"text": "forged"}
        )
        assert forged.status == 403
        detail = (await http.get(f"/v1/incidents/{incident_id}")).json()
        assert detail["decisions"] == []
    await page.goto(f"/incidents/{incident_id}")
    await expect(page.locator("h1")).to_contain_text(CLIENT["first_name"])
    # Nothing clinical is kept in the browser: htmx keeps only the path it is on.
    stored = await page.evaluate("() => [localStorage, sessionStorage].map(s => Object.entries(s))")
    assert stored[0] == []
    assert [key for key, _ in stored[1]] in ([], ["htmx-current-path-for-history"])
    assert CLIENT["first_name"] not in str(stored) and CLIENT["phone"] not in str(stored)
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/signin")
    again = await page.goto("/")
    assert again is not None
    assert page.url.endswith("/signin")
