"""Mutual TLS to Temporal: with `CRISISDESK_TEMPORAL_TLS_*` set, `connect_temporal` presents the
process's client certificate (made by deploy/temporal/generate-certs.sh) and checks the server's
against the stack's CA. A loopback TLS server that demands a client certificate records who
completed the handshake."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.temporal import connect_temporal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls") / "certs"
    subprocess.run(
        ["/bin/sh", str(ROOT / "deploy" / "temporal" / "generate-certs.sh"), str(directory)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return directory


@contextlib.asynccontextmanager
async def _mutual_tls_server(certs: Path, peers: list[str]) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.pem"))
    context.load_cert_chain(certs / "server.pem", certs / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        peers.extend(
            value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"
        )
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1]


def _settings(tmp_path: Path, port: int, certs: Path, client: str = "crisisdesk") -> Settings:
    return Settings(
        data_dir=tmp_path,
        temporal_address=f"127.0.0.1:{port}",
        temporal_tls_cert=certs / f"{client}.pem",
        temporal_tls_key=certs / f"{client}.key",
        temporal_tls_ca=certs / "ca.pem",
        temporal_tls_server_name="temporal",
    )


async def test_the_client_presents_its_certificate_to_temporal(certs: Path, tmp_path: Path) -> None:
    peers: list[str] = []
    async with _mutual_tls_server(certs, peers) as port:
        with pytest.raises(RuntimeError):  # the handshake succeeds; the server is no Temporal
            await asyncio.wait_for(connect_temporal(_settings(tmp_path, port, certs)), 30)

    assert "crisisdesk-app" in peers
