"""The check's handshake step against a real TLS server on loopback (self-signed)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from whatsapp_operator.check.network import handshake_step
from whatsapp_operator.check.report import Status
from whatsapp_operator.endpoints import parse_url


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[str, list[int]]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    requests: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Anything read after the handshake would be a request: the check sends none.
        data = await reader.read(1)
        if data:
            requests.append(1)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", requests
    finally:
        server.close()
        await server.wait_closed()


async def test_an_untrusted_certificate_is_said_plainly(tls_server: tuple[str, list[int]]) -> None:
    url, requests = tls_server
    step = await handshake_step(parse_url(url), timeout=5.0, context=ssl.create_default_context())
    assert step.status is Status.FAIL
    assert "is not trusted: self-signed certificate" in step.detail
    assert requests == []


async def test_a_trusted_certificate_near_its_end_warns(
    tls_server: tuple[str, list[int]], certificate: tuple[Path, Path]
) -> None:
    url, requests = tls_server
    context = ssl.create_default_context(cafile=str(certificate[0]))
    step = await handshake_step(parse_url(url), timeout=5.0, context=context)
    assert step.status is Status.WARN, step.detail
    assert "certificate trusted, valid until" in step.detail
    assert "days left" in step.detail
    assert step.detail.startswith("TLSv1.")
    assert requests == []
