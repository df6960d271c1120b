"""`make bench`, phase (2) and the goals of SPEC 10.5: incidents opened *and projected*.

    (2) POST /v1/incidents with `in_flight` at once, timed until every incident opened is in the
        list (`GET /v1/incidents`, read from the case-file projection): opened-and-projected per
        second, beside the old figure, workflows started (POST answered) per second

The ratios the issue asks for, each against the engine's own floor measured in the same run:

    (2) opened-and-projected/s over (1) trivial workflows completed/s     goal >= 0.7
    (3) decision p99 over (3a) bare update p99                          goal <= 2.0

bench/run.py imports this module inside its functions; it imports bench/run.py's helpers at the
top.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.run import Api, bounded, latency_summary

OPENED_CRISIS_TYPE = "suicidal_ideation"  # (2)'s incidents; its warm-up opens `panic` ones
LISTED_WITHIN_S = 240.0
LIST_POLL_S = 0.05
# A page past the end answers the total with no rows: a count the API audits no read of.
PAST_THE_END = 1_000_000
PROJECTED_GOAL = 0.7
DECISION_GOAL = 2.0


@dataclass
class Burst:
    """Incidents opened with at most `in_flight` at once; `started` is the first POST's
    perf_counter()."""

    started: float
    elapsed_s: float
    latencies: list[float]
    errors: list[str]
    opened: list[str]


async def open_burst(
    api: Api,
    client_ids: list[str],
    count: int,
    in_flight: int,
    *,
    crisis_type: str = OPENED_CRISIS_TYPE,
    before_each: Callable[[int], None] | None = None,
) -> Burst:
    """Open `count` incidents, `in_flight` at once; `before_each(i)` is called as opening i is
    sent (the SOS phase presses the button from there)."""
    token = api.tokens["clinician"]
    opened: list[str] = []

    async def one(i: int) -> float:
        if before_each is not None:
            before_each(i)
        sent = time.perf_counter()
        incident_id = await api.open_incident(client_ids[i % len(client_ids)], crisis_type, token)
        took = time.perf_counter() - sent
        opened.append(incident_id)
        return took

    started = time.perf_counter()
    elapsed, latencies, errors = await bounded(count, in_flight, one)
    return Burst(started, elapsed, latencies, errors, opened)


async def listed_count(api: Api, crisis_type: str) -> int:
    """How many of the program's incidents of `crisis_type` the list shows."""
    path = f"/v1/incidents?crisis_type={crisis_type}&limit=1&offset={PAST_THE_END}"
    return int((await api.get(path, api.tokens["clinician"]))["count"])


async def until_listed(api: Api, crisis_type: str, target: int, within_s: float) -> int:
    """Poll the list's count until it reaches `target` or `within_s` passes; answers the last
    count."""
    deadline = time.perf_counter() + within_s
    while True:
        listed = await listed_count(api, crisis_type)
        if listed >= target or time.perf_counter() > deadline:
            return listed
        await asyncio.sleep(LIST_POLL_S)


async def opened_and_projected(
    api: Api, client_ids: list[str], count: int, in_flight: int
) -> tuple[dict[str, Any], list[str]]:
    """(2): the figures, and the ids opened (phase (5) walks them)."""
    await open_burst(api, client_ids[:1], 5, 5, crisis_type="panic")  # warm-up, not counted
    before = await listed_count(api, OPENED_CRISIS_TYPE)
    burst = await open_burst(api, client_ids, count, in_flight)
    target = before + len(burst.opened)
    listed = await until_listed(api, OPENED_CRISIS_TYPE, target, LISTED_WITHIN_S)
    listed_after = time.perf_counter() - burst.started
    projected = min(listed - before, len(burst.opened))
    errors = burst.errors
    if listed < target:
        errors = [*errors, f"{target - listed} not listed within {LISTED_WITHIN_S:.0f} s"]
    return {
        "count": count,
        "in_flight": in_flight,
        "opened": len(burst.latencies),
        "listed": projected,
        "errors": errors[:5],
        "error_count": len(errors),
        "elapsed_s": round(burst.elapsed_s, 2),
        "all_listed_after_s": round(listed_after, 2),
        "opened_and_projected_per_s": round(projected / listed_after, 1),
        "incidents_per_s": round(len(burst.latencies) / burst.elapsed_s, 1),
        "latency": latency_summary(burst.latencies),
    }, burst.opened


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """The issue's two ratios (and the old started/completed one), from phases that ran."""
    found: dict[str, float] = {}
    engine, opening = results.get("engine"), results.get("open")
    if engine and opening and engine["workflows_per_s"]:
        per_s = engine["workflows_per_s"]
        found["ratio_projected_to_engine"] = round(opening["opened_and_projected_per_s"] / per_s, 3)
        found["ratio_started_to_engine"] = round(opening["incidents_per_s"] / per_s, 3)
    decisions, updates = results.get("decisions"), results.get("engine_updates")
    if decisions and updates and updates["latency"]["p99_ms"]:
        found["ratio_decision_p99_to_update_p99"] = round(
            decisions["latency"]["p99_ms"] / updates["latency"]["p99_ms"], 2
        )
    return found


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


def opening_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table's lines for (2) and its ratio to (1)."""
    opening = results.get("open")
    if not opening:
        return []
    lat = opening["latency"]
    rows = [
        (
            "(2) opened and projected (in the list)",
            f"{opening['opened_and_projected_per_s']} /s",
            f"{opening['listed']} listed {opening['all_listed_after_s']} s after the first POST",
        ),
        (
            "    POST /v1/incidents answered (started)",
            f"{opening['incidents_per_s']} /s",
            f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms",
        ),
    ]
    if (projected := results.get("ratio_projected_to_engine")) is not None:
        rows.append(
            (
                "    ratio projected/s over (1) completed/s",
                f"{projected:.2f}",
                f"goal >= {PROJECTED_GOAL}: {_met(projected >= PROJECTED_GOAL)}",
            )
        )
    if (started := results.get("ratio_started_to_engine")) is not None:
        rows.append(("    (started/s over (1) completed/s)", f"{started:.2f}", "not like for like"))
    return rows


def decision_ratio_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table's line for (3) over (3a)."""
    ratio = results.get("ratio_decision_p99_to_update_p99")
    if ratio is None:
        return []
    return [
        (
            "    ratio decision p99 over update p99",
            f"{ratio:.2f}",
            f"goal <= {DECISION_GOAL}: {_met(ratio <= DECISION_GOAL)}",
        )
    ]
