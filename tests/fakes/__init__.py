"""Fakes of the outside vendors, faked only at their network boundary: each is a real server on
loopback (`smtp`: an SMTP relay; `twilio`: Twilio's REST API) that the real client code talks to."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port
