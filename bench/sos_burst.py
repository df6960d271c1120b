"""`make bench`, phase (8): the SOS button while the program is busy (SPEC 10.5).

    (8) 15 presses (POST /v1/sos, each from a device of its own: the rate limit is per device)
        spread over a burst of 300 incidents opened with 100 in flight; each press timed until
        its answer. Goal: every press answered within a second. Beside it, 3 presses while the
        program is quiet, and how late the bench's own event loop ran during the burst (a lag
        there would be in the figures, not in the server).

The presses start as openings 100.. are sent, so each is sent with 100 openings in flight. They
go out on a connection pool of their own, as a phone's would.

bench/run.py imports this module inside its functions; it imports bench/run.py's helpers at the
top.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.opening import open_burst
from bench.run import Api, latency_summary, percentile, until_idle

PRESSES = 15
QUIET_PRESSES = 3
BURST = 300
BURST_IN_FLIGHT = 100
ANSWERED_WITHIN_S = 1.0
LOOP_TICK_S = 0.01


async def add_devices(api: Api, client_ids: list[str], count: int) -> list[str]:
    """Setup, before any load: `count` device tokens for the program's clients, in turn."""
    tokens: list[str] = []
    for i in range(count):
        device = await api.post(
            f"/v1/clients/{client_ids[i % len(client_ids)]}/devices",
            {"label": f"bench sos {i}"},
            api.tokens["admin"],
        )
        tokens.append(str(device["token"]))
    return tokens


class Presses:
    """SOS presses on a pool of their own: each one's answer time, status and answer."""

    def __init__(self, phone: httpx.AsyncClient) -> None:
        self.phone = phone
        self.sent = 0
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.joined = 0
        self.queued = 0
        self.errors: list[str] = []

    async def press(self, device_token: str) -> None:
        self.sent += 1
        started = time.perf_counter()
        try:
            answer = await self.phone.post(
                "/v1/sos", json={}, headers={"Authorization": f"Bearer {device_token}"}
            )
        except httpx.HTTPError as error:  # counted and reported, never hidden
            self.errors.append(f"{type(error).__name__}: {error}"[:300])
            return
        self.latencies.append(time.perf_counter() - started)
        self.statuses[str(answer.status_code)] = self.statuses.get(str(answer.status_code), 0) + 1
        if answer.status_code not in (201, 202):
            self.errors.append(f"POST /v1/sos -> {answer.status_code}: {answer.text[:200]}")
            return
        body = answer.json()
        if not body.get("crisis_numbers"):
            self.errors.append("an SOS answer without crisis numbers")
        self.joined += bool(body.get("joined"))
        self.queued += bool(body.get("queued"))

    def summary(self) -> dict[str, Any]:
        over = sum(1 for s in self.latencies if s > ANSWERED_WITHIN_S)
        return {
            "presses": self.sent,
            "answered": len(self.latencies),
            "statuses": self.statuses,
            "joined": self.joined,
            "queued": self.queued,
            "over_1s": over,
            "goal_met": self.sent > 0 and not self.errors and over == 0,
            "errors": self.errors[:5],
            "error_count": len(self.errors),
            "latency": latency_summary(self.latencies),
        }


def press_schedule(count: int, in_flight: int, presses: int) -> list[int]:
    """Which openings send a press as they go out: spread over those sent after the first
    `in_flight` (each of them waits for an answer, so `in_flight` stay in flight)."""
    start = in_flight if count > in_flight else 0
    return [start + k * (count - start) // presses for k in range(presses)]


async def _loop_lag(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        ticked = time.perf_counter()
        await asyncio.sleep(LOOP_TICK_S)
        lags.append(time.perf_counter() - ticked - LOOP_TICK_S)


async def sos_during_burst(
    api: Api,
    client_ids: list[str],
    *,
    worker_pid: int | None,
    burst: int = BURST,
    in_flight: int = BURST_IN_FLIGHT,
    presses: int = PRESSES,
) -> dict[str, Any]:
    """(8): the quiet presses, then the burst with its presses; the worker is idle before and
    after."""
    devices = await add_devices(api, client_ids, QUIET_PRESSES + presses)
    async with httpx.AsyncClient(base_url=api.http.base_url, timeout=60) as phone:
        quiet = Presses(phone)
        for token in devices[:QUIET_PRESSES]:
            await quiet.press(token)
        idle_wait = await until_idle(worker_pid)

        loaded = Presses(phone)
        pressing: list[asyncio.Task[None]] = []
        schedule = press_schedule(burst, in_flight, presses)
        tokens = iter(devices[QUIET_PRESSES:])

        def press_with(i: int) -> None:
            for _ in range(schedule.count(i)):
                pressing.append(asyncio.create_task(loaded.press(next(tokens))))

        lags: list[float] = []
        stop = asyncio.Event()
        lag_probe = asyncio.create_task(_loop_lag(lags, stop))
        opening = await open_burst(api, client_ids, burst, in_flight, before_each=press_with)
        await asyncio.gather(*pressing)
        stop.set()
        await lag_probe
    # The next phase finds the worker as this one did: its backlog from the burst done.
    idle_after = await until_idle(worker_pid)
    return {
        **loaded.summary(),
        "burst": burst,
        "in_flight": in_flight,
        "burst_elapsed_s": round(opening.elapsed_s, 2),
        "burst_opened_per_s": round(len(opening.latencies) / opening.elapsed_s, 1),
        "burst_errors": opening.errors[:5],
        "burst_error_count": len(opening.errors),
        "idle_wait_s": idle_wait,
        "idle_after_s": idle_after,
        "quiet": quiet.summary(),
        "bench_loop_lag_ms": {
            "p99": round(percentile(lags, 99) * 1000, 1),
            "max": round(max(lags, default=0.0) * 1000, 1),
        },
    }


def sos_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The table's lines for (8)."""
    sos = results.get("sos_burst")
    if not sos:
        return []
    lat, quiet = sos["latency"], sos["quiet"]["latency"]
    return [
        (
            f"(8) SOS press during {sos['burst']} openings ({sos['in_flight']} in flight)",
            f"{sos['over_1s']}/{sos['answered']} > 1 s",
            f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms "
            f"(goal: every press < 1000 ms: {'met' if sos['goal_met'] else 'NOT met'})",
        ),
        (
            f"    SOS press, program quiet (n={quiet['count']})",
            "",
            f"p50 {quiet['p50_ms']} ms, max {quiet['max_ms']} ms",
        ),
    ]
