"""Fault drills: a caseload walked through the API while a part of the deployment fails.

After each: every incident is at the stage its decisions imply, every decision the API accepted
is in its workflow's history (and projected and audited once), each emergency contact got one
message, counted at the SMTP relay, and the API answered 503 problem details, never another 5xx.

`make drills` runs them at full scale (200 incidents, PostgreSQL down 30 s, SMTP down a minute)
and prints the counts; `make test` runs the short versions.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from tests.drills.caseload import Caseload
from tests.drills.checks import verify
from tests.drills.conftest import DrillScale, World
from tests.processes import postgres_down

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


async def _drill(
    name: str, world: World, scale: DrillScale, fault: Any, seed: int
) -> tuple[Caseload, dict[str, Any]]:
    caseload = world.caseload(await world.new_cases(scale.cases), scale, seed)
    elapsed, _ = await asyncio.gather(caseload.run(scale.within_s), fault(caseload))
    report = await verify(world, caseload)
    report["walked_in_s"] = round(elapsed, 1)
    print(f"\ndrill {name} [{scale.name}]: {json.dumps(report)}", flush=True)
    return caseload, report


async def test_worker_killed_at_random_moments(world: World, scale: DrillScale) -> None:
    chance = random.Random(8)
    kills: list[float] = []

    async def kill_and_restart(caseload: Caseload) -> None:
        for moment in sorted(chance.uniform(0.05, 0.8) for _ in range(scale.worker_kills)):
            await caseload.wait_for_progress(moment)
            kills.append(caseload.progress)
            world.worker.kill()
            await asyncio.sleep(chance.uniform(0.2, 2.0))
            world.worker.start()

    _, report = await _drill("worker-kill-9", world, scale, kill_and_restart, seed=1)
    assert len(kills) == scale.worker_kills
    print(f"    killed at {[f'{k:.0%}' for k in kills]} of the caseload", flush=True)
    assert report["decisions_accepted_and_in_history"] > 0


async def test_temporal_dev_server_restarted(world: World, scale: DrillScale) -> None:
    restarted_at: list[float] = []

    async def restart(caseload: Caseload) -> None:
        for restart_at in (0.25, 0.6)[: scale.temporal_restarts]:
            await caseload.wait_for_progress(restart_at)
            restarted_at.append(caseload.progress)
            await asyncio.to_thread(world.temporal.stop)
            await asyncio.sleep(scale.temporal_down_s)
            world.temporal.start()
            await asyncio.to_thread(world.temporal.wait_ready)

    await _drill("temporal-restart", world, scale, restart, seed=2)
    print(f"    restarted at {[f'{r:.0%}' for r in restarted_at]} of the caseload", flush=True)
    # The API's Temporal client waits out a short restart: callers see a slower 200, or a 503.
    assert len(restarted_at) == scale.temporal_restarts
    assert all(r < 0.9 for r in restarted_at), "the restarts came after the caseload"


async def test_postgresql_stopped(world: World, scale: DrillScale) -> None:
    async def outage(caseload: Caseload) -> None:
        await caseload.wait_for_progress(0.2)
        async with postgres_down(world.database_url):
            await asyncio.sleep(scale.postgres_outage_s)

    caseload, _ = await _drill("postgresql-down", world, scale, outage, seed=3)
    assert caseload.ledger.unavailable > 0, "no request met the outage: the drill tested nothing"


async def test_smtp_relay_stopped(world: World, scale: DrillScale) -> None:
    held: list[int] = []

    async def outage(caseload: Caseload) -> None:
        world.smtp.stop()
        await asyncio.sleep(scale.smtp_outage_s)
        held.append(sum(c.accepted[1:2] != [] for c in caseload.cases))  # notified while down
        world.smtp.start()

    await _drill("smtp-down", world, scale, outage, seed=4)
    print(f"    {held[0]} contacts were notified while the relay was down", flush=True)
    assert held[0] > 0, "no contact was notified during the outage: the drill tested nothing"
