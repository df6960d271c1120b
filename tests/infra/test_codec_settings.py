"""Which origin the codec server answers across origins (SPEC 10.4): the Temporal UI's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.embedded import dev_server_command
from infra.settings import Settings


def test_the_ui_origin_follows_the_ui_port_or_the_configured_url() -> None:
    assert Settings(temporal_ui_port=9333).temporal_ui_origin == "http://127.0.0.1:9333"
    configured = Settings(temporal_ui_url="https://Temporal.Example.org/ui/")
    assert configured.temporal_ui_origin == "https://temporal.example.org"
    with pytest.raises(ValidationError, match="temporal_ui_url"):
        Settings(temporal_ui_url="javascript:alert(1)")


def test_the_embedded_ui_decodes_through_the_api() -> None:
    command = dev_server_command(Settings(public_url="http://127.0.0.1:8100/"))
    assert command[command.index("--ui-codec-endpoint") + 1] == "http://127.0.0.1:8100/codec"
