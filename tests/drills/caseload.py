"""A caseload of incidents walked through the API by clinicians who retry the way a client must:
on a 503 (or a late answer) the same request again, with the same `Idempotency-Key`.

Every answer the API gives is kept in a `Ledger`; a drill asserts afterwards that the only
errors were 503 problem details. Each `Case` keeps the decision ids the API accepted, which the
drill then looks for in the workflow's history, the projection and the audit log.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.workflows.scenarios import DEESCALATED, JUDGED_MODERATE, SAFETY_PLAN

PROBLEM_JSON = "application/problem+json"


@dataclass
class Ledger:
    """Every answer of the API during a drill, by status; anything but 2xx/503 is kept whole."""

    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def record(self, what: str, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code == 503:
            if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
                self.unexpected.append(f"{what}: 503 without a problem detail: {response.text}")
        elif response.status_code >= 500:
            self.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")

    def unreachable(self, what: str, error: Exception) -> None:
        self.unexpected.append(f"{what}: the API did not answer ({type(error).__name__})")

    @property
    def unavailable(self) -> int:
        return self.statuses[503]


@dataclass(frozen=True)
class Step:
    body: dict[str, Any]
    role: str = "clinician"


@dataclass
class Case:
    """One client's crisis, from opening to the stage its decisions imply."""

    number: int
    client_id: str
    contact_id: str
    contact_email: str
    closes: bool
    incident_id: str | None = None
    workflow_id: str | None = None
    accepted: list[str] = field(default_factory=list)  # decision ids, in order
    done: bool = False

    @property
    def steps(self) -> list[Step]:
        walk = [
            Step(JUDGED_MODERATE),
            Step(
                {
                    "kind": "notify_contacts",
                    "contact_ids": [self.contact_id],
                    "basis": "serious_imminent_threat",
                    "justification": "Told us she is not safe tonight",
                }
            ),
            Step({"kind": "note", "text": f"Drill check-in {self.number}"}),
            Step(DEESCALATED),
            Step(
                {
                    "kind": "disposition",
                    "outcome": "remained_home_with_safety_plan",
                    "safety_plan": SAFETY_PLAN,
                }
            ),
        ]
        if self.closes:
            walk.append(Step({"kind": "close", "reason": "Stable, seen in group"}, "supervisor"))
        return walk

    @property
    def expected_stage(self) -> str:
        return "closed" if self.closes else "follow_up"


class Caseload:
    """Opens and walks `cases` concurrently, `in_flight` requests at a time, until `deadline`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: dict[str, str],
        cases: list[Case],
        *,
        in_flight: int,
        pause: float,
        seed: int,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.cases = cases
        self.ledger = Ledger()
        self._slots = asyncio.Semaphore(in_flight)
        self._pause = pause
        self._random = random.Random(seed)
        self.retries = 0
        self.total_decisions = sum(len(c.steps) for c in cases)

    @property
    def accepted(self) -> int:
        return sum(len(c.accepted) for c in self.cases)

    @property
    def progress(self) -> float:
        """The share of the caseload's decisions accepted so far."""
        return self.accepted / self.total_decisions

    async def send(self, what: str, path: str, body: dict[str, Any], role: str) -> dict[str, Any]:
        """POST until the API accepts it: 503 and late answers are retried with the same key;
        any other refusal fails the drill (the walk is valid, so a refusal is a bug)."""
        key = str(uuid.uuid4())
        headers = {"Authorization": f"Bearer {self.tokens[role]}", "Idempotency-Key": key}
        delay = 0.2
        while True:
            async with self._slots:
                try:
                    response = await self.http.post(path, json=body, headers=headers)
                except httpx.TimeoutException:
                    response = None  # a late answer: ask again with the same key
                except httpx.TransportError as error:
                    self.ledger.unreachable(what, error)
                    response = None
            if response is not None:
                self.ledger.record(what, response)
                if response.status_code in (200, 201):
                    answer: dict[str, Any] = response.json()
                    return answer
                if response.status_code != 503:
                    raise AssertionError(f"{what}: {response.status_code} {response.text}")
            self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)

    async def walk(self, case: Case) -> None:
        await asyncio.sleep(self._random.uniform(0, self._pause * 4))
        opened = await self.send(
            f"case {case.number}: open",
            "/v1/incidents",
            {
                "client_id": case.client_id,
                "crisis_type": "panic",
                "summary": "Drill: panic attack during group session",
            },
            "clinician",
        )
        case.incident_id, case.workflow_id = str(opened["id"]), str(opened["workflow_id"])
        for step in case.steps:
            await asyncio.sleep(self._random.uniform(0, self._pause))
            kind = step.body["kind"]
            state = await self.send(
                f"case {case.number}: {kind}",
                f"/v1/incidents/{case.incident_id}/decisions",
                step.body,
                step.role,
            )
            recorded = state["decisions"][-1]
            assert recorded["kind"] == kind, f"case {case.number}: answered {recorded}"
            case.accepted.append(str(recorded["decision_id"]))
        case.done = True

    async def run(self, within: float) -> float:
        started = time.monotonic()
        walks = [asyncio.create_task(self.walk(case)) for case in self.cases]
        done, pending = await asyncio.wait(walks, timeout=within)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()  # a refusal or a broken answer fails the drill here
        stuck = [c.number for c in self.cases if not c.done]
        assert not stuck, f"cases not walked to the end within {within} s: {stuck}"
        return time.monotonic() - started

    async def wait_for_progress(self, fraction: float) -> None:
        """Until that share of the caseload's decisions has been accepted."""
        while True:
            if self.progress >= fraction:
                return
            await asyncio.sleep(0.05)
