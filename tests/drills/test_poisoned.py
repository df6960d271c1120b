"""Poisoned-data drills (SPEC 10.1, "one bad fact never silences the rest"): a number that
refuses texts, a mailbox that bounces, an owner who cannot own the incident, a case file that
refuses one incident's rows, an alarm nobody answers for 30 days, providers that refuse every
contact. Each drill counts at the sources what still happened (messages at the fake Twilio
server and at aiosmtpd, rows in PostgreSQL, the workflows' histories on Temporal), asserts that
no activity was retried past its budget, and prints what it checked.

Drills that need no clock run on their own processes (`desk`: a Temporal dev server, `crisisdesk
worker` and `crisisdesk api`); those that wait for the protocol's windows or 30 days run on the
time-skipping server with the real app and a worker in-process (`ts_desk`). `make drills` runs
them at full scale; `make test` the short versions.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from temporalio.client import WorkflowExecutionStatus

from domain.followup import followup_workflow_id
from domain.notification import LadderPolicy
from domain.protocols import protocol_for
from domain.vocabulary import CrisisType
from tests.drills.histories import activity_runs, attempts_by_activity, over_budget, workflow_runs
from tests.drills.poison import (
    HARD_BOUNCE,
    INVALID_NUMBER,
    UNSUBSCRIBED,
    Desk,
    PoisonScale,
    new_address,
    settled,
)
from tests.workflows.scenarios import DISPATCH_911, JUDGED_MODERATE, SAFETY_PLAN
from workflows.paging import PAGE_BUDGET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

PANIC = protocol_for(CrisisType.PANIC)
ASSESSMENT_OVERDUE = "no assessment within the protocol's window"
LADDER_EXHAUSTED = "no emergency contact acknowledged"
CASE_FILE_PAGE = "case file could not be written"
EARLY = LATE = timedelta(seconds=30)  # a page is on time when it fires inside this margin
# A case file refused for a data error is tried again on a backoff that doubles up to an hour.
RECHECK_AT_MOST = timedelta(hours=1)
# SPEC 10.1: an incident left 30 days with an alarm nobody answers stays under these, per run.
DAYS, MAX_EVENTS, MAX_BYTES = 30, 10_000, 5 * 1024 * 1024
SUICIDAL = protocol_for(CrisisType.SUICIDAL_IDEATION)
# An unconfirmed dispatch pages when its window runs out, then on the backoff, then hourly.
_BACKOFF = SUICIDAL.escalation.backoff
EXPECTED_ALARM_PAGES = (
    1
    + len(_BACKOFF)
    + (timedelta(days=DAYS) - SUICIDAL.dispatch_confirm_window - sum(_BACKOFF, timedelta(0)))
    / SUICIDAL.escalation.then_every
)


def report(name: str, scale: PoisonScale, figures: dict[str, Any], started: float) -> None:
    figures["ran_in_s"] = round(time.monotonic() - started, 1)
    print(f"\ndrill {name} [{scale.name}]: {json.dumps(figures)}", flush=True)


def alarm_times() -> list[timedelta]:
    """When an unanswered assessment alarm pages: the window, then the protocol's backoff."""
    times = [PANIC.assessment_window]
    for wait in PANIC.escalation.backoff[: PANIC.escalation.widen_after_pages]:
        times.append(times[-1] + wait)
    return times  # the last of these is the first page widened to every supervisor


async def within_budget(desk: Desk, incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """Assert no activity of these incidents (every run, every child) retried past its budget;
    answer the attempts by activity for the printout."""
    runs = await activity_runs(desk.temporal, [i["workflow_id"] for i in incidents])
    retried = over_budget(runs)
    assert not retried, f"activities retried past their budget: {retried[:10]}"
    return attempts_by_activity(runs)


# --- 1. a number that refuses texts and a mailbox that bounces ---------------------------------


async def test_refused_texts_and_a_bounced_mailbox_silence_no_other_page(
    ts_desk: Desk, poison: PoisonScale
) -> None:
    started, desk = time.monotonic(), ts_desk
    on_call_phone, backup_phone, admin_phone = "+15035557001", "+15035557002", "+15035557003"
    bouncing = new_address("bo.supervisor")
    on_call = await desk.member("supervisor", on_call=True)
    await desk.reach(on_call["id"], phone=on_call_phone, email=new_address("on.call"))
    await desk.reach((await desk.member("admin"))["id"], phone=admin_phone, email=None)
    bounced = await desk.hire("supervisor", "Bo Bounced", email=bouncing)
    backup = await desk.hire("supervisor", "Cy Backup", phone=backup_phone)
    desk.twilio.refuse(on_call_phone, UNSUBSCRIBED, kind="message")
    desk.smtp.refuse(bouncing, HARD_BOUNCE)

    clients = [await desk.add_client(n) for n in range(poison.refused_pages)]
    incidents = list(await asyncio.gather(*(desk.open_incident(c) for c in clients)))
    ids = [i["id"] for i in incidents]
    n = len(ids)

    def counts() -> dict[str, int]:
        return {
            "texts_refused_on_call": desk.texts_to(on_call_phone, accepted=False),
            "texts_accepted_on_call": desk.texts_to(on_call_phone, accepted=True),
            "calls_to_on_call": desk.calls_to(on_call_phone, accepted=True),
            "emails_bounced_bo": desk.bounced(bouncing),
            "texts_to_backup": desk.texts_to(backup_phone, accepted=True),
            "admin_paged": desk.texts_to(admin_phone) + desk.calls_to(admin_phone),
        }

    def expected(pages: int) -> dict[str, int]:
        widened = max(0, pages - PANIC.escalation.widen_after_pages)
        return {
            "texts_refused_on_call": pages * n,  # each page tries the text once, and only once
            "texts_accepted_on_call": 0,
            "calls_to_on_call": pages * n,  # the next channel takes every page
            "emails_bounced_bo": widened * n,
            "texts_to_backup": widened * n,
            "admin_paged": 0,  # a supervisor was reached every time
        }

    # Each page fires on time: nothing before it is due, everything within the margin after.
    elapsed = timedelta(0)
    for page, due in enumerate(alarm_times(), start=1):
        await desk.sleep(due - EARLY - elapsed)
        assert counts() == expected(page - 1), f"page {page} went out early: {counts()}"
        await desk.sleep(EARLY + LATE)
        elapsed = due + LATE

        async def arrived(page: int = page) -> list[str]:
            return [f"{k}: {v}" for k, v in counts().items() if v != expected(page)[k]]

        await settled(arrived, f"page {page} not counted at the providers on time")

    # On each incident: every page reached its target, each refusal is in `unreachable` once,
    # with the supervisor reached on the next channel.
    states = await desk.details(ids)
    for state in states:
        pages = state["pages"]
        assert len(pages) == len(alarm_times()), pages
        for page in pages[:-1]:
            assert (page["reached_target"], page["recipients"], page["channel"]) == (
                "on_call_supervisor",
                [on_call["id"]],
                "voice",
            ), page
        widened = pages[-1]
        assert widened["reached_target"] == "all_supervisors", widened
        assert set(widened["recipients"]) == {on_call["id"], backup["id"]}, widened
        refusals = {(u["page_id"], u["recipient_id"], u["channel"]) for u in state["unreachable"]}
        assert len(refusals) == len(state["unreachable"]), "a refusal recorded twice"
        assert refusals == {(p["page_id"], on_call["id"], "sms") for p in pages} | {
            (widened["page_id"], bounced["id"], "email")
        }
        for entry in state["unreachable"]:
            code = str(UNSUBSCRIBED) if entry["channel"] == "sms" else f"SMTP {HARD_BOUNCE}"
            assert entry["reason"].startswith("permanent") and code in entry["reason"], entry
        failed = [n for n in state["notifications"] if n["status"] == "failed"]
        assert [n["attempt"] for n in failed] == [1] * len(refusals), failed

    # Someone assesses at last: the alarms stop, and every incident's case file is current.
    for incident_id in ids:
        await desk.accepted(incident_id, JUDGED_MODERATE)
    before = counts()
    await desk.sleep(timedelta(hours=2))
    assert counts() == before, "pages after the assessment"
    await settled(lambda: desk.unprojected(ids), "incidents not projected at their revision")
    attempts = await within_budget(desk, incidents)

    report(
        "refused-text-and-bounced-mailbox",
        poison,
        {
            "incidents": n,
            "pages_per_incident": len(alarm_times()),
            **counts(),
            "unreachable_entries": sum(len(s["unreachable"]) for s in states),
            "incidents_projected_at_latest_revision": n,
            "activity_attempts": attempts,
        },
        started,
    )


# --- 2. decisions naming owners who cannot own the incident -------------------------------------


async def test_decisions_naming_a_wrong_owner_are_refused_and_the_incident_works_on(
    desk: Desk, poison: PoisonScale
) -> None:
    started = time.monotonic()
    supervisor = await desk.member("supervisor", on_call=True)
    supervisor_email, second_email = new_address("supervisor"), new_address("second")
    await desk.reach(supervisor["id"], phone=None, email=supervisor_email)
    second = await desk.hire("clinician", "Second clinician", email=second_email)
    gone = await desk.hire("clinician", "Left the program")
    left = await desk.post(f"/v1/staff/{gone['id']}/deactivate", {}, "admin")
    assert left.status_code == 200, left.text
    wrong_owners = {
        "unknown": str(uuid.uuid4()),
        "another program's clinician": await desk.foreign_clinician(),
        "a follow-up worker": (await desk.member("followup"))["id"],
        "an admin": (await desk.member("admin"))["id"],
        "a deactivated clinician": gone["id"],
    }
    clients = [await desk.add_client(n) for n in range(poison.wrong_owners)]
    contacts = [
        await desk.add_contact(c, 1, email=new_address("contact"), channels=["email"])
        for c in clients
    ]
    incidents = list(await asyncio.gather(*(desk.open_incident(c) for c in clients)))
    refused: list[str] = []

    async def walk(number: int, incident: dict[str, Any]) -> None:
        incident_id = incident["id"]
        for kind, role in (("reassign", "supervisor"), ("escalate", "clinician")):
            for what, owner_id in wrong_owners.items():
                body = {"kind": kind, "owner_id": owner_id, "reason": "Handing over the case"}
                answer = await desk.decide(incident_id, body, role)
                # An id the program does not have is not found; someone who cannot own an
                # incident is a conflict. Either way named, and nothing recorded.
                expected = 404 if what in ("unknown", "another program's clinician") else 409
                assert answer.status_code == expected, (kind, what, answer.text)
                assert answer.json()["errors"][0]["field"] == "owner_id", (kind, what)
                refused.append(f"{kind}:{what}")
        # Every other id in a decision is checked too: another client's contact, a resource
        # that is not in the directory.
        others: dict[str, dict[str, Any]] = {
            "contact_ids": {
                "kind": "notify_contacts",
                "contact_ids": [contacts[(number + 1) % len(contacts)]],
                "basis": "serious_imminent_threat",
                "justification": "Told us she is not safe tonight",
            },
            "resource_id": {  # unknown to the directory: 404 naming it
                "kind": "dispatch",
                "service": "mobile_crisis",
                "resource_id": str(uuid.uuid4()),
                "reason": "Needs a team on site",
            },
        }
        for field, body in others.items():
            answer = await desk.decide(incident_id, body)
            # Another client's contact is wrong for this incident (409); a resource the
            # directory does not have is not found (404).
            expected = 404 if field == "resource_id" else 409
            assert answer.status_code == expected, (field, answer.text)
            assert answer.json()["errors"][0]["field"] == field, (field, answer.text)
            refused.append(f"{body['kind']}:{field}")
        # The incident works on: later decisions are accepted, and their pages go out.
        await desk.accepted(incident_id, JUDGED_MODERATE)
        reassign = {"kind": "reassign", "owner_id": second["id"], "reason": "Shift change"}
        await desk.accepted(incident_id, reassign, "supervisor")
        escalate = {"kind": "escalate", "owner_id": supervisor["id"], "reason": "Second opinion"}
        await desk.accepted(incident_id, escalate)
        state = await desk.accepted(incident_id, {"kind": "note", "text": "Settled on the call"})
        assert state["owner"] == supervisor["id"]
        assert [d["kind"] for d in state["decisions"]] == [
            "assessment",
            "reassign",
            "escalate",
            "note",
        ]

    await asyncio.gather(*(walk(n, i) for n, i in enumerate(incidents)))
    ids = [i["id"] for i in incidents]

    async def pages_missing() -> list[str]:
        wrong = []
        for incident_id in ids:
            to_second = desk.emails_to(second_email, incident_id)
            to_supervisor = desk.emails_to(supervisor_email, incident_id)
            # The new owner once; the supervisor for the escalation and as its new owner.
            if (to_second, to_supervisor) != (1, 2):
                wrong.append(f"{incident_id}: second {to_second}, supervisor {to_supervisor}")
        return wrong

    await settled(pages_missing, "pages of the accepted decisions not delivered")
    await settled(lambda: desk.unprojected(ids), "incidents not projected at their revision")
    # Nothing refused reached a workflow: each history holds the four accepted decisions only.
    for incident in incidents:
        [history] = await workflow_runs(desk.temporal, incident["workflow_id"])
        updates = [
            e
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        assert len(updates) == 4, f"{incident['id']}: {len(updates)} updates in history"
    attempts = await within_budget(desk, incidents)
    assert await pages_missing() == [], "a page delivered twice"

    report(
        "wrong-owner-and-other-ids",
        poison,
        {
            "incidents": len(ids),
            "decisions_refused": len(refused),
            "refused_kinds": sorted(set(refused)),
            "decisions_accepted_after": 4 * len(ids),
            "pages_delivered_to_new_owners": sum(
                desk.emails_to(second_email, i) + desk.emails_to(supervisor_email, i) for i in ids
            ),
            "incidents_projected_at_latest_revision": len(ids),
            "activity_attempts": attempts,
        },
        started,
    )


# --- 3. a case file that refuses one incident's rows ------------------------------------------


async def test_a_case_file_refusing_one_incident_leaves_the_others_and_its_pages_alone(
    ts_desk: Desk, poison: PoisonScale
) -> None:
    started, desk = time.monotonic(), ts_desk
    supervisor_email = new_address("supervisor")
    await desk.reach((await desk.member("supervisor"))["id"], phone=None, email=supervisor_email)
    clients = [await desk.add_client(n) for n in range(poison.casefile + 1)]
    contacts = [new_address(f"contact-{n}") for n in range(len(clients))]
    contact_ids = [
        await desk.add_contact(c, 1, email=address, channels=["email"])
        for c, address in zip(clients, contacts, strict=True)
    ]
    incidents = list(await asyncio.gather(*(desk.open_incident(c) for c in clients)))
    ids = [i["id"] for i in incidents]
    poisoned, others = ids[0], ids[1:]
    await settled(lambda: desk.unprojected(ids), "incidents not projected when opened")
    opened_revision, _ = await desk.rows_of(poisoned)
    # From now on the database refuses every write of the first incident's rows.
    await desk.refuse_rows_of_client(clients[0], from_first_row=False)

    for incident_id, contact_id in zip(ids, contact_ids, strict=True):
        notify = {
            "kind": "notify_contacts",
            "contact_ids": [contact_id],
            "basis": "serious_imminent_threat",
            "justification": "Told us she is not safe tonight",
        }
        await desk.accepted(incident_id, notify)
        await desk.accepted(incident_id, {"kind": "note", "text": "Sister on her way"})

    async def poisoned_flagged() -> list[str]:
        state = await desk.detail(poisoned)
        return [] if "ProjectionDataError" in (state["projection_error"] or "") else ["no flag"]

    await settled(poisoned_flagged, "projection_error not shown on the poisoned incident")
    await settled(lambda: desk.unprojected(others), "the other incidents not projected")
    assert await desk.rows_of(poisoned) == (opened_revision, 0), "a refused row was written"

    async def arrived(what: str, expected: dict[str, int]) -> list[str]:
        wrong = [
            f"{i}: {n} '{what}' pages"
            for i in ids
            if (n := desk.emails_to(supervisor_email, i, what)) != expected.get(i, 1)
        ]
        return wrong

    # The poisoned incident's supervisors are paged about it once; its ladder wrote as every
    # other incident's did.
    await settled(
        lambda: arrived(CASE_FILE_PAGE, {i: int(i == poisoned) for i in ids}),
        "the case-file page",
    )

    async def contacts_unwritten() -> list[str]:
        return [c for c in contacts if desk.emails_to(c) != 1]

    await settled(contacts_unwritten, "emergency contacts not written to")
    # Its alarms page on time, and its ladder ends in a page, like the others'.
    await desk.sleep(PANIC.assessment_window + LATE)
    await settled(lambda: arrived(ASSESSMENT_OVERDUE, {}), "the overdue-assessment pages")
    await settled(lambda: arrived(LADDER_EXHAUSTED, {}), "the exhausted-ladder pages")
    state = await desk.detail(poisoned)
    assert state["projection_error"] is not None
    assert [ladder["status"] for ladder in state["ladders"]] == ["exhausted"]

    # The row is fixed: the workflow writes the case file again on its own backoff.
    await desk.fix_rows()
    await desk.sleep(RECHECK_AT_MOST)

    async def recovered() -> list[str]:
        flag = (await desk.detail(poisoned))["projection_error"]
        return [f"still flagged: {flag}"] if flag else await desk.unprojected([poisoned])

    await settled(recovered, "the poisoned incident's case file never caught up")
    await settled(lambda: arrived(CASE_FILE_PAGE, {i: int(i == poisoned) for i in ids}), "once")
    for incident_id in ids:
        await desk.accepted(incident_id, JUDGED_MODERATE)
    await settled(lambda: desk.unprojected(ids), "incidents not projected at their revision")
    attempts = await within_budget(desk, incidents)
    states = await desk.details(ids)
    alarm_pages = {
        s["id"]: len([p for p in s["pages"] if p["reason"] == ASSESSMENT_OVERDUE]) for s in states
    }
    assert len(set(alarm_pages.values())) == 1, f"alarms differ: {alarm_pages}"

    report(
        "case-file-refuses-one-incident",
        poison,
        {
            "incidents": len(ids),
            "poisoned": 1,
            "others_projected_while_poisoned": len(others),
            "case_file_pages_about_the_poisoned": desk.emails_to(
                supervisor_email, poisoned, CASE_FILE_PAGE
            ),
            "contacts_written_to": sum(desk.emails_to(c) for c in contacts),
            "alarm_pages_per_incident": alarm_pages[poisoned],
            "ladders_exhausted_and_paged": sum(
                desk.emails_to(supervisor_email, i, LADDER_EXHAUSTED) for i in ids
            ),
            "recovered_within": str(RECHECK_AT_MOST),
            "incidents_projected_at_latest_revision": len(ids),
            "activity_attempts": attempts,
        },
        started,
    )


async def test_an_incident_whose_first_row_is_refused_still_pages_and_notifies(
    ts_desk: Desk, poison: PoisonScale
) -> None:
    """The case file refuses the incident's very first row: every other effect of the incident
    (its pages, its contact ladder) must not depend on that row."""
    started, desk = time.monotonic(), ts_desk
    supervisor_email, contact = new_address("supervisor"), new_address("contact")
    await desk.reach((await desk.member("supervisor"))["id"], phone=None, email=supervisor_email)
    client = await desk.add_client(0)
    contact_id = await desk.add_contact(client, 1, email=contact, channels=["email"])
    await desk.refuse_rows_of_client(client, from_first_row=True)
    incident = await desk.open_incident(client)
    await desk.accepted(
        incident["id"],
        {
            "kind": "notify_contacts",
            "contact_ids": [contact_id],
            "basis": "incapacity",
            "justification": "Told us she is not safe tonight",
        },
    )
    await desk.sleep(PANIC.assessment_window + LATE)

    async def silenced() -> list[str]:
        state = await desk.detail(incident["id"])
        wanted = {
            "projection_error shown": state["projection_error"] is not None,
            "supervisor paged about the case file": desk.emails_to(
                supervisor_email, incident["id"], CASE_FILE_PAGE
            )
            == 1,
            "supervisor paged for the overdue assessment": desk.emails_to(
                supervisor_email, incident["id"], ASSESSMENT_OVERDUE
            )
            == 1,
            "emergency contact written to": desk.emails_to(contact) == 1,
        }
        return [what for what, done in wanted.items() if not done]

    await settled(silenced, "effects silenced by the refused first row", within=30)
    await desk.fix_rows()
    await desk.sleep(RECHECK_AT_MOST)
    await settled(lambda: desk.unprojected([incident["id"]]), "the case file never caught up")
    attempts = await within_budget(desk, [incident])
    report(
        "case-file-refuses-first-row",
        poison,
        {
            "pages_delivered": desk.emails_to(supervisor_email),
            "contact_messages": desk.emails_to(contact),
            "activity_attempts": attempts,
        },
        started,
    )


# --- 4. an alarm nobody answers for 30 days ---------------------------------------------------


async def test_incidents_left_30_days_stay_bounded_and_keep_paging(
    ts_desk: Desk, poison: PoisonScale
) -> None:
    started, desk = time.monotonic(), ts_desk
    supervisor_email = new_address("supervisor")
    await desk.reach((await desk.member("supervisor"))["id"], phone=None, email=supervisor_email)
    incidents = []
    for number in range(poison.left_30_days):
        incident = await desk.open_incident(await desk.add_client(number), "suicidal_ideation")
        await desk.accepted(
            incident["id"],
            {
                "kind": "assessment",
                "instrument": "clinical_judgement",
                "risk_override": "high",
                "justification": "Plan and means disclosed on video",
            },
        )
        # 911 was called; nobody ever confirms the team en route, so its alarm never clears.
        await desk.accepted(incident["id"], DISPATCH_911)
        state = await desk.accepted(
            incident["id"],
            {
                "kind": "disposition",
                "outcome": "remained_home_with_safety_plan",
                "safety_plan": SAFETY_PLAN,
            },
        )
        assert "dispatch_unconfirmed" in [t["name"] for t in state["pending_timers"]]
        incidents.append(incident)

    await desk.sleep(timedelta(days=DAYS))

    figures: list[dict[str, Any]] = []
    for incident in incidents:
        handle = desk.temporal.get_workflow_handle(incident["workflow_id"])
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        followup = desk.temporal.get_workflow_handle(followup_workflow_id(UUID(incident["id"])))
        assert (await followup.describe()).status is WorkflowExecutionStatus.RUNNING
        runs = await workflow_runs(desk.temporal, incident["workflow_id"])
        sizes = [sum(e.ByteSize() for e in run.events) for run in runs]
        events = [len(run.events) for run in runs]
        assert max(events) < MAX_EVENTS, f"{incident['id']}: a run of {max(events)} events"
        assert max(sizes) < MAX_BYTES, f"{incident['id']}: a run of {max(sizes)} bytes"
        assert len(runs) > 1, f"{incident['id']} never continued as new"
        state = await desk.detail(incident["id"])
        alarm = next(t for t in state["pending_timers"] if t["name"] == "dispatch_unconfirmed")
        delivered = desk.emails_to(supervisor_email, incident["id"], "911 response")
        assert delivered == alarm["pages_sent"], (delivered, alarm)
        assert EXPECTED_ALARM_PAGES - 2 <= alarm["pages_sent"] <= EXPECTED_ALARM_PAGES + 1, alarm
        noted = await desk.accepted(incident["id"], {"kind": "note", "text": "Still watching"})
        assert noted["stage"] == "follow_up"
        figures.append(
            {
                "runs": len(runs),
                "largest_run_events": max(events),
                "largest_run_bytes": max(sizes),
                "latest_run_events": events[-1],
                "alarm_pages_delivered": delivered,
            }
        )
    attempts = await within_budget(desk, incidents)

    report(
        "30-days-unanswered",
        poison,
        {
            "incidents": len(incidents),
            "days": DAYS,
            "expected_alarm_pages_each": round(EXPECTED_ALARM_PAGES),
            "per_incident": figures,
            "activity_attempts": attempts,
        },
        started,
    )


# --- 5. every provider refuses every contact --------------------------------------------------


async def test_ladders_whose_every_contact_is_refused_end_paging_the_supervisor(
    desk: Desk, poison: PoisonScale
) -> None:
    started = time.monotonic()
    desk.twilio.refuse_all(INVALID_NUMBER)
    desk.smtp.refuse_all(HARD_BOUNCE)
    staff_routes = {}
    for number, role in enumerate(("supervisor", "admin")):
        member = await desk.member(role)
        phone, email = f"+1503557{number:04d}", new_address(role)
        await desk.reach(member["id"], phone=phone, email=email)
        staff_routes[role] = (phone, email)
    cases = []
    for number in range(poison.refused_contacts):
        client = await desk.add_client(number)
        routes = [
            (f"+1503558{number:03d}{rank}", new_address(f"c{number}-{rank}")) for rank in (1, 2)
        ]
        contact_ids = [
            await desk.add_contact(
                client, rank, phone=phone, email=email, channels=["sms", "voice", "email"]
            )
            for rank, (phone, email) in enumerate(routes, start=1)
        ]
        cases.append((client, contact_ids, routes))

    async def walk(client: str, contact_ids: list[str]) -> dict[str, Any]:
        incident = await desk.open_incident(client)
        await desk.accepted(incident["id"], JUDGED_MODERATE)
        notify = {
            "kind": "notify_contacts",
            "contact_ids": contact_ids,
            "basis": "incapacity",
            "justification": "Told us she is not safe tonight",
        }
        await desk.accepted(incident["id"], notify)
        return incident

    incidents = list(await asyncio.gather(*(walk(c, ids) for c, ids, _ in cases)))
    ids = [i["id"] for i in incidents]

    async def ladders_running() -> list[str]:
        return [
            f"{s['id']}: {[ladder['status'] for ladder in s['ladders']]}"
            for s in await desk.details(ids)
            if [ladder["status"] for ladder in s["ladders"]] != ["exhausted"]
        ]

    await settled(ladders_running, "ladders not exhausted", within=120)

    # Each refusal was tried once, at the provider that refused it.
    for _, _, routes in cases:
        for phone, email in routes:
            assert (desk.texts_to(phone), desk.calls_to(phone), desk.bounced(email)) == (1, 1, 1)
    assert not desk.twilio.messages and not desk.twilio.calls and not desk.smtp.messages
    # Each ladder ended in one page to the supervisor, tried on each of their channels (and
    # the admins'), taken by the console; within the ladder's budget.
    for phone, email in staff_routes.values():
        assert (desk.texts_to(phone), desk.calls_to(phone), desk.bounced(email)) == (len(ids),) * 3
    budget = 2 * 3 * LadderPolicy().send_within + PAGE_BUDGET
    took = []
    for state in await desk.details(ids):
        [ladder] = state["ladders"]
        took.append(_at(ladder["ended_at"]) - _at(ladder["started_at"]))
        pages = [
            e["detail"]
            for e in await desk.timeline(state["id"])
            if e["type"] == "audit.page.sent" and e["detail"]["reason"] == LADDER_EXHAUSTED
        ]
        assert [p["target"] for p in pages] == ["console"], pages
    assert max(took) <= budget, f"a ladder took {max(took)} (budget {budget})"
    attempts = await within_budget(desk, incidents)
    sends = attempts.get("send_message", {})
    assert sends == {"failed (PermanentDeliveryError) x1": 6 * len(ids)}, sends

    report(
        "every-contact-refused",
        poison,
        {
            "incidents": len(ids),
            "contacts": 2 * len(ids),
            "texts_calls_refused_21211": len(desk.twilio.requests),
            "emails_bounced_550": len(desk.smtp.refusals),
            "ladders_exhausted_and_paged": len(ids),
            "page_taken_by": "console",
            "longest_ladder_s": round(max(took).total_seconds(), 1),
            "ladder_budget_s": budget.total_seconds(),
            "activity_attempts": attempts,
        },
        started,
    )


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)
