"""Waiting for what the worker writes asynchronously."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, tries: int = 1000) -> T:
    """Poll a projection the worker writes asynchronously until `check` answers something."""
    for _ in range(tries):
        found = await check()
        if found is not None and found is not False:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")
