"""A burst of reads: every supervisor's screen refreshes one incident's detail at the same
moment (the poisoned-data drills' checks, run at full scale, were the first to do it). Each
read must answer, and soon: a supervisor who cannot open the incident cannot act on a page.
On the drill's own processes: the real `crisisdesk api` over PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx
import pytest

from tests.drills.poison import Desk, PoisonScale

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

ANSWERED_WITHIN_S = 10.0


async def test_a_burst_of_detail_reads_all_answer(desk: Desk, poison: PoisonScale) -> None:
    started = time.monotonic()
    incident = await desk.open_incident(await desk.add_client(0))
    await desk.detail(incident["id"])  # one read on its own answers

    async def read() -> str:
        try:
            answer = await desk.http.get(
                f"/v1/incidents/{incident['id']}",
                headers=desk.auth("supervisor"),
                timeout=ANSWERED_WITHIN_S,
            )
        except httpx.TimeoutException:
            return f"no answer within {ANSWERED_WITHIN_S:.0f} s"
        return str(answer.status_code)

    answers = Counter(await asyncio.gather(*(read() for _ in range(poison.readers))))
    figures = {"readers": poison.readers, "answers": answers}
    figures["ran_in_s"] = round(time.monotonic() - started, 1)
    print(f"\ndrill burst-of-reads [{poison.name}]: {json.dumps(figures)}", flush=True)
    assert answers == {"200": poison.readers}, answers
