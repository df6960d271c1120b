"""A pytest plugin: `restore_logging`, for tests that call the process-wide `configure_logging`
(structlog and the standard library are put back as they were afterwards)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from infra.logging import QUIET_LOGGERS


@pytest.fixture
def restore_logging() -> Iterator[None]:
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    structlog.configure(**structlog_config)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in quiet.items():
        logging.getLogger(name).setLevel(saved)
