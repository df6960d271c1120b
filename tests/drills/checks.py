"""What must hold after a drill, whatever was killed or stopped during it, checked at the
sources: the API's answers, the workflow histories on the Temporal server, the projection and
audit log in PostgreSQL, and the messages counted at the SMTP relay."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any
from uuid import UUID

from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from domain.models import AuditEvent, DecisionRecord, Notification
from infra.audit_log import verify_chain
from infra.db import make_async_engine, session_factory
from infra.temporal import data_converter_for
from tests.drills.caseload import Caseload
from tests.drills.conftest import World
from tests.helpers.stack import KEYRING


def _decision_of(update_id: str) -> str:
    """The API names a decision's update "<decision id>:<digest of its body>"."""
    return update_id.partition(":")[0]


async def _settled(check: Any, what: str, within: float) -> Any:
    """Poll `check` (async, answers a list of what is still wrong) until it answers nothing."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        wrong = await check()
        if not wrong:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} after {within:.0f} s: {wrong[:10]} ({len(wrong)} in all)")
        await asyncio.sleep(0.5)


async def _attempts(sessions: Any, incident_id: str | None) -> list[str]:
    """The delivery attempts of an incident, for the message of a failed check."""
    async with sessions() as session:
        rows = (
            await session.exec(
                select(Notification).where(Notification.incident_id == UUID(str(incident_id)))
            )
        ).all()
    return [f"{n.purpose}/{n.channel} #{n.attempt} {n.status} {n.error or ''}" for n in rows]


async def verify(world: World, caseload: Caseload, *, within: float = 180) -> dict[str, Any]:
    """Assert the drill's promises and return the counts it checked."""
    cases = caseload.cases
    assert not caseload.ledger.unexpected, caseload.ledger.unexpected[:10]
    clinician = {"Authorization": f"Bearer {world.tokens['clinician']}"}

    # 1. Every incident reaches the stage its decisions imply (follow-up starts a moment after
    #    the disposition, so the check waits for it).
    async def stages_wrong() -> list[str]:
        wrong = []
        for case in cases:
            response = await world.http.get(f"/v1/incidents/{case.incident_id}", headers=clinician)
            stage = response.json().get("stage") if response.status_code == 200 else None
            if stage != case.expected_stage:
                wrong.append(f"case {case.number}: {stage} (expected {case.expected_stage})")
        return wrong

    await _settled(stages_wrong, "incidents not at the stage their decisions imply", within)

    # 2. Every accepted decision is in its workflow's history, each completed exactly once.
    temporal = await Client.connect(
        world.settings.temporal_address, data_converter=data_converter_for(KEYRING)
    )
    in_history = 0
    for case in cases:
        assert case.workflow_id is not None
        history = await temporal.get_workflow_handle(case.workflow_id).fetch_history()
        accepted = [
            _decision_of(
                e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            )
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        completed = Counter(
            _decision_of(e.workflow_execution_update_completed_event_attributes.meta.update_id)
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
        )
        missing = [d for d in case.accepted if d not in accepted]
        assert not missing, f"case {case.number}: accepted decisions not in history: {missing}"
        twice = [d for d, n in completed.items() if n > 1]
        assert not twice, f"case {case.number}: decisions completed twice: {twice}"
        assert len(accepted) == len(case.accepted), (
            f"case {case.number}: {len(accepted)} updates in history, "
            f"{len(case.accepted)} decisions accepted by the API"
        )
        in_history += len(case.accepted)

    # 3. The projection holds each decision once, each audited once, and the chain is whole.
    engine = make_async_engine(world.database_url)
    sessions = session_factory(engine)
    expected = {d for case in cases for d in case.accepted}

    async def projection_wrong() -> list[str]:
        async with sessions() as session:
            rows = (await session.exec(select(DecisionRecord.id))).all()
            audited = (
                await session.exec(
                    select(AuditEvent.detail).where(col(AuditEvent.action).startswith("decision."))
                )
            ).all()
        ids = Counter(str(r) for r in rows)
        wrong = [f"decision {d} not projected" for d in expected - set(ids)]
        wrong += [f"decision {d} projected {n} times" for d, n in ids.items() if n > 1]
        audit_ids = Counter(str(detail.get("decision_id")) for detail in audited)
        wrong += [
            f"decision {d} audited {audit_ids[d]} times" for d in expected if audit_ids[d] != 1
        ]
        return wrong

    def received() -> Counter[str]:
        return Counter(
            address.strip().lower()
            for message in list(world.smtp.messages)
            for address in str(message.get("To", "")).split(",")
        )

    stopped_before_sending: set[int] = set()
    unknown_escalated: set[int] = set()

    async def undelivered() -> list[str]:
        """Contacts with no message yet. Two ladders rightly never write: one a supervisor's
        close stopped before its first try, and one whose send died with a killed worker
        (outcome unknown, so never resent) that then paged the supervisor instead, unless the
        incident had closed. A send still being retried is waited for."""
        counts = received()
        wrong: list[str] = []
        stopped_before_sending.clear()
        unknown_escalated.clear()
        for c in cases:
            if counts[c.contact_email] > 0:
                continue
            attempts = await _attempts(sessions, c.incident_id)
            contact_attempts = [a for a in attempts if not a.startswith("page/")]
            paged = len(attempts) > len(contact_attempts)
            unknown = any("outcome unknown" in a for a in contact_attempts)
            sent = any(" sent" in a or " delivered" in a for a in contact_attempts)
            detail = await world.http.get(f"/v1/incidents/{c.incident_id}", headers=clinician)
            ladders = [ladder["status"] for ladder in detail.json()["ladders"]]
            stopped = c.closes and ladders == ["stopped"]
            if stopped and not contact_attempts:
                stopped_before_sending.add(c.number)
            elif unknown and not sent and (paged or stopped):
                unknown_escalated.add(c.number)
            else:
                wrong.append(f"case {c.number} ({c.workflow_id}): ladders {ladders}, {attempts}")
        return wrong

    try:
        await _settled(projection_wrong, "the projection disagrees with the histories", within)
        _, broken = await verify_chain(sessions)
        assert broken is None, f"the audit chain is broken at {broken}"
        # 4. Each emergency contact got exactly one message, counted at the SMTP relay.
        await _settled(undelivered, "emergency contacts never reached", within)
        await asyncio.sleep(1)  # a duplicate would arrive right behind the first
    finally:
        await engine.dispose()
    counts = received()
    duplicated = {c.contact_email: n for c in cases if (n := counts[c.contact_email]) > 1}
    assert not duplicated, f"messages sent twice: {duplicated}"

    return {
        "incidents": len(cases),
        "closed": sum(c.closes for c in cases),
        "in_follow_up": sum(not c.closes for c in cases),
        "decisions_accepted_and_in_history": in_history,
        "decisions_projected_and_audited_once": len(expected),
        "contacts_reached_once": len(cases) - len(stopped_before_sending | unknown_escalated),
        "ladders_stopped_by_close_before_sending": len(stopped_before_sending),
        "sends_of_unknown_outcome_not_resent": len(unknown_escalated),
        "answers_by_status": dict(sorted(caseload.ledger.statuses.items())),
        "answered_503": caseload.ledger.unavailable,
        "answered_other_5xx": 0,
        "client_retries": caseload.retries,
    }
