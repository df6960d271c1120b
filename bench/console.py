"""`make bench`, the console's figures: what a signed-in clinician waits for.

    (6) the board's first render with at least 500 open incidents: `GET /` end to end
    (7) decision to screen over server-sent events: a `note` recorded through the JSON API until
        the incident page would show it (`event: changed` on `/live/incidents/{id}`, then its
        `/incidents/{id}/live` fragment carries the new timeline entry); beside it, an incident
        opened through the API until `event: board` and the board's rows show it

Each phase signs in as the browser does (`POST /signin` with the staff token, then the session
cookie) and reads pages and streams over HTTP only, so it runs against `--api` too.

bench/run.py imports this module inside `main`; it imports bench/run.py's helpers at the top.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from api.console.live import POLL_SECONDS
from api.console.session import SESSION_COOKIE
from bench.run import CSSRS_LOW, Api, bounded, latency_summary, until_idle

BOARD_ROW = '<tr data-incident-id="'
NOTE_ENTRY = 'data-event-kind="note"'
# SPEC 10.3: any change is on screen within 2 s; a sample waits this long before it counts as
# an error.
SHOWN_WITHIN_S = 10.0
# A stream reads its first version on opening and sends events only for later changes.
STREAM_BASELINE_S = 1.2

Events = asyncio.Queue[tuple[str, float]]


@contextlib.asynccontextmanager
async def signed_in_browser(api: Api, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (its own cookie jar), signed in with `token` through the form."""
    async with httpx.AsyncClient(base_url=api.http.base_url, timeout=60) as browser:
        answer = await browser.post("/signin", data={"token": token})
        if answer.status_code != 303 or SESSION_COOKIE not in browser.cookies:
            raise RuntimeError(f"POST /signin -> {answer.status_code}: no session cookie")
        yield browser


async def _read_events(response: httpx.Response, events: Events) -> None:
    """Each dispatched event's name with its arrival time (perf_counter), as EventSource does:
    an event ends at a blank line and is dispatched only if it carried data."""
    name, has_data = "message", False
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            has_data = True
        elif not line:
            if has_data:
                events.put_nowait((name, time.perf_counter()))
            name, has_data = "message", False


@contextlib.asynccontextmanager
async def event_stream(browser: httpx.AsyncClient, path: str) -> AsyncIterator[Events]:
    """An open SSE stream on `path`: its events arrive on the queue yielded."""
    timeout = httpx.Timeout(10, read=None)
    async with browser.stream("GET", path, timeout=timeout) as response:
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} -> {response.status_code}")
        events: Events = asyncio.Queue()
        reader = asyncio.create_task(_read_events(response, events))
        try:
            await asyncio.sleep(STREAM_BASELINE_S)
            yield events
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader


async def _ready_to_send(events: Events) -> None:
    """Before a sample: a random pause within one poll of the stream, so samples do not lock
    onto its phase, and no event left from before."""
    await asyncio.sleep(random.uniform(0, POLL_SECONDS))
    while not events.empty():
        events.get_nowait()


async def _next_event(events: Events, name: str, deadline: float) -> float:
    """The arrival time of the next `name` event, or TimeoutError at `deadline`."""
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError
        event, at = await asyncio.wait_for(events.get(), remaining)
        if event == name:
            return at


async def _shown(
    sent: float,
    action: asyncio.Task[float],
    events: Events,
    event: str,
    browser: httpx.AsyncClient,
    fetch: str,
    shows: Callable[[str], Awaitable[bool]],
) -> tuple[float, float, float]:
    """After `action` was sent at `sent`: on each `event`, fetch `fetch` as the page does, until
    `shows` the change; answers (that event, on screen, action answered) in seconds after sent."""
    deadline = sent + SHOWN_WITHIN_S
    while True:
        try:
            at = await _next_event(events, event, deadline)
        except TimeoutError:
            if action.done():
                action.result()  # the action's own failure, if that is why
            raise RuntimeError(f"not on screen within {SHOWN_WITHIN_S} s") from None
        fragment = await browser.get(fetch)
        fragment.raise_for_status()
        if await shows(fragment.text):
            on_screen = time.perf_counter()
            return at - sent, on_screen - sent, await action - sent


async def _answered_at(call: Awaitable[Any]) -> float:
    await call
    return time.perf_counter()


def _more_notes_than(count: int) -> Callable[[str], Awaitable[bool]]:
    async def shows(html: str) -> bool:
        return html.count(NOTE_ENTRY) > count

    return shows


def _row_of(opening: asyncio.Task[str]) -> Callable[[str], Awaitable[bool]]:
    async def shows(html: str) -> bool:
        return f'{BOARD_ROW}{await opening}"' in html

    return shows


# --------------------------------------------------------------------------- (6)


async def board_first_render(
    api: Api,
    client_ids: list[str],
    *,
    worker_pid: int | None,
    minimum: int = 500,
    renders: int = 30,
    in_flight: int = 100,
) -> dict[str, Any]:
    """A clinician's `GET /` (full body), `renders` times one after another after a warm-up,
    with at least `minimum` open incidents on the board (more are opened first if needed)."""
    token = api.tokens["clinician"]
    async with signed_in_browser(api, token) as browser:
        found = (await browser.get("/")).text.count(BOARD_ROW)
        opened_first, idle_wait = 0, 0.0
        if found < minimum:

            async def one(i: int) -> float:
                started = time.perf_counter()
                await api.open_incident(client_ids[i % len(client_ids)], "suicidal_ideation", token)
                return time.perf_counter() - started

            _, done, _ = await bounded(minimum - found, in_flight, one)
            opened_first = len(done)
            idle_wait = await until_idle(worker_pid)
        (await browser.get("/")).raise_for_status()  # warm-up, not counted
        latencies: list[float] = []
        errors: list[str] = []
        size = rows = 0
        for _ in range(renders):
            started = time.perf_counter()
            response = await browser.get("/")
            took = time.perf_counter() - started
            if response.status_code != 200:
                errors.append(f"GET / -> {response.status_code}")
                continue
            latencies.append(took)
            size, rows = len(response.content), response.text.count(BOARD_ROW)
    if rows < minimum:
        errors.append(f"the board showed {rows} rows, fewer than {minimum}")
    return {
        "renders": renders,
        "rows": rows,
        "minimum_rows": minimum,
        "opened_first": opened_first,
        "idle_wait_s": idle_wait,
        "body_kib": round(size / 1024, 1),
        "errors": errors[:5],
        "error_count": len(errors),
        "latency": latency_summary(latencies),
    }


# --------------------------------------------------------------------------- (7)


async def decision_to_screen(
    api: Api, client_id: str, *, samples: int = 40, board_samples: int = 20
) -> dict[str, Any]:
    """(7): `samples` notes on one open incident, then `board_samples` incidents opened, each
    timed from just before it is sent until the page would show it."""
    token = api.tokens["clinician"]
    async with signed_in_browser(api, token) as browser:
        notes = await _notes_to_screen(api, browser, client_id, token, samples)
        board = await _openings_to_board(api, browser, client_id, token, board_samples)
    return {**notes, "board": board}


async def _notes_to_screen(
    api: Api, browser: httpx.AsyncClient, client_id: str, token: str, samples: int
) -> dict[str, Any]:
    incident = await api.open_incident(client_id, "suicidal_ideation", token)
    live = f"/incidents/{incident}/live"
    warm_up = {"kind": "note", "text": "bench warm-up"}
    try:
        await api.decide(incident, warm_up, token)
    except RuntimeError:  # the protocol wants an assessment before anything else
        await api.decide(incident, CSSRS_LOW, token)
        await api.decide(incident, warm_up, token)
    on_screen: list[float] = []
    events_seen: list[float] = []
    answered: list[float] = []
    errors: list[str] = []
    async with event_stream(browser, f"/live/incidents/{incident}") as events:
        for i in range(samples):
            shown_before = (await browser.get(live)).text.count(NOTE_ENTRY)
            await _ready_to_send(events)
            body = {"kind": "note", "text": f"bench note {i}"}
            sent = time.perf_counter()
            action = asyncio.create_task(_answered_at(api.decide(incident, body, token)))
            try:
                event, shown, done = await _shown(
                    sent, action, events, "changed", browser, live, _more_notes_than(shown_before)
                )
            except Exception as error:  # counted and reported, never hidden
                errors.append(f"{type(error).__name__}: {error}"[:300])
                with contextlib.suppress(Exception):
                    await action
                continue
            events_seen.append(event)
            on_screen.append(shown)
            answered.append(done)
    return {
        "samples": samples,
        "errors": errors[:5],
        "error_count": len(errors),
        "latency": latency_summary(on_screen),
        "latency_event": latency_summary(events_seen),
        "latency_decision_answered": latency_summary(answered),
    }


async def _openings_to_board(
    api: Api, browser: httpx.AsyncClient, client_id: str, token: str, samples: int
) -> dict[str, Any]:
    on_screen: list[float] = []
    events_seen: list[float] = []
    errors: list[str] = []
    async with event_stream(browser, "/live/board") as events:
        for _ in range(samples):
            await _ready_to_send(events)
            sent = time.perf_counter()
            opening = asyncio.create_task(api.open_incident(client_id, "panic", token))
            answered = asyncio.create_task(_answered_at(opening))
            try:
                event, shown, _ = await _shown(
                    sent, answered, events, "board", browser, "/board/rows", _row_of(opening)
                )
            except Exception as error:  # counted and reported, never hidden
                errors.append(f"{type(error).__name__}: {error}"[:300])
                with contextlib.suppress(Exception):
                    await answered
                continue
            events_seen.append(event)
            on_screen.append(shown)
    return {
        "samples": samples,
        "errors": errors[:5],
        "error_count": len(errors),
        "latency": latency_summary(on_screen),
        "latency_event": latency_summary(events_seen),
    }
